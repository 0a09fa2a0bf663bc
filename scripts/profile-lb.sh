#!/usr/bin/env bash
# profile-lb.sh - where lb's time goes, per stage of a request, and how many system calls a
# request costs lb and HAProxy. Not a benchmark of lb against the others (make bench is), and not
# named bench-*.sh, so `make bench` does not run it; docs/performance.md shows its output.
#
# Usage: scripts/profile-lb.sh BIN_DIR
#   Environment: PROFILE_SECONDS (5: perf sampling time, and each run of step 2),
#                PROFILE_CONNS (50 keep-alive clients), PROFILE_ROUNDS (3: runs of step 2 per
#                proxy), PROFILE_REQUESTS (20000: requests counted under strace, per proxy).
#
# Three backends (one nginx, two workers, a static 1 KiB file on three ports), lb -w 1 and HAProxy
# (nbthread 1) round robin over them, on free loopback ports.
#  1. perf record -g (DWARF call graphs) samples lb while wrk keeps PROFILE_CONNS keep-alive
#     clients busy. Each sample goes to the stage of the innermost lb function on its stack that
#     belongs to a stage (a send(2) under write_client() is "write to client", the kernel's TCP
#     work included; the writes a worker held for the end of its batch of events, to clients and
#     backends alike, go out together in one io_uring_enter() and make a stage of their own). The table shows each stage's share of lb's samples and the CPU time per
#     request that share stands for (lb's CPU time from /proc over a run without perf, divided
#     by the requests wrk completed in it).
#  2. the whole machine's CPU time per request, with lb and then with HAProxy in the middle: wrk
#     (the clients), the proxy, the backends and the rest (kernel threads, interrupts, anything
#     else running), from /proc over PROFILE_ROUNDS interleaved runs of PROFILE_SECONDS each. On
#     loopback the receiver's TCP work mostly runs in the sender's system call, so it is counted
#     in the sender's time. Then each program's context switches per request (from
#     /proc/PID/task/*/status, wrk's from GNU time when /usr/bin/time is there): each is a sleep,
#     and a wake-up later.
#  3. strace -c -f follows lb, then HAProxy, while wrk sends PROFILE_REQUESTS requests over
#     PROFILE_CONNS connections (a Lua script stops wrk after that many answers); the counts of
#     each system call are divided by the requests answered. strace slows the proxy down, which
#     changes batching a little (more events come one at a time): the counts are an upper bound.
# When perf cannot sample (perf_event_paranoid, a container without the syscall), step 1 says
# so and the table is left out. Everything started is stopped by its PID.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

bin="${1:-bin}"
seconds="${PROFILE_SECONDS:-5}"
conns="${PROFILE_CONNS:-50}"
requests="${PROFILE_REQUESTS:-20000}"
rounds="${PROFILE_ROUNDS:-3}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$bin/lb" ] || die "no $bin/lb (run make first)"
need_tools wrk haproxy nginx curl strace
for v in "$seconds" "$conns" "$requests" "$rounds"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "PROFILE_SECONDS, PROFILE_CONNS, PROFILE_REQUESTS and PROFILE_ROUNDS must be positive integers, not '$v'"
done

make_temp_dir
chmod 711 "$tmp" || die "chmod failed"
free_port b1 b2 b3 lb_port hap_port

mkdir -p "$tmp/www" "$tmp/backends"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/www/1k"
if ! chmod 755 "$tmp/www" || ! chmod 644 "$tmp/www/1k"; then die "chmod failed"; fi
start_static_backends "$tmp/backends" 2 0 "$tmp/www" "$b1" "$b2" "$b3"
backends_pid=${pids[${#pids[@]} - 1]} # their nginx master; its workers are its children

"$bin/lb" -l "127.0.0.1:$lb_port" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w 1 \
    >"$tmp/lb.log" 2>&1 &
lb_pid=$!
pids+=("$lb_pid")
cat >"$tmp/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
    log stderr format raw local0 emerg
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:$hap_port
    default_backend be
backend be
    balance roundrobin
    http-reuse always
    server b1 127.0.0.1:$b1
    server b2 127.0.0.1:$b2
    server b3 127.0.0.1:$b3
EOF
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
hap_pid=$!
pids+=("$hap_pid")
wait_port "$lb_port" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.log")"
wait_port "$hap_port" "$hap_pid" || die "haproxy did not start: $(cat "$tmp/haproxy.log")"
for p in "$lb_port" "$hap_port"; do
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/1k")
    [ "$code" = 200 ] || die "127.0.0.1:$p/1k answered '$code', not 200"
done
url="http://127.0.0.1:$lb_port/1k"
# warm up: backend connections pooled, buffers allocated
wrk -t1 -c"$conns" -d1s "$url" >/dev/null 2>&1

# --- 1. perf: the stages ----------------------------------------------------------------------
# CPU ticks (user + system) of process $1, all its threads.
ticks_of() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

echo "profile-lb: lb -w 1, $conns keep-alive clients, GET /1k, nginx static backends"
# lb's CPU time per request, measured without perf (whose DWARF call graphs copy every sampled
# stack, in lb's time): the stages' shares below are shares of this.
t0=$(ticks_of "$lb_pid")
wrk -t1 -c"$conns" -d"${seconds}s" "$url" >"$tmp/wrk-cpu.out" 2>&1
t1=$(ticks_of "$lb_pid")
hz=$(getconf CLK_TCK)
n=$(awk '/requests in/ { print $1 }' "$tmp/wrk-cpu.out")
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk-cpu.out")
cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="${n:-0}" \
    'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "?" }')
echo "wrk: ${rps:-?} requests/s; lb used $(awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$seconds" \
    'BEGIN { printf "%.0f", t * 100 / hz / s }')% of a core, ${cpu_us} us of CPU per request"

pdata="$tmp/perf.data"
wrk -t1 -c"$conns" -d"$((seconds + 2))s" "$url" >"$tmp/wrk-perf.out" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 1
perf_ok=0
if command -v perf >/dev/null 2>&1 &&
    timeout $((seconds + 30)) perf record -q -g --call-graph dwarf,16384 -F 997 -p "$lb_pid" -o "$pdata" \
        -- sleep "$seconds" >"$tmp/perf.log" 2>&1 && [ -s "$pdata" ]; then
    perf_ok=1
fi
wait_pid "$wrk_pid"

if [ "$perf_ok" = 1 ]; then
    # Each sample's frames come leaf first; the innermost frame naming a stage function decides.
    perf script -i "$pdata" -F ip,sym 2>/dev/null | awk -v cpu="$cpu_us" '
    BEGIN {
        # lb functions (and libc/kernel entry points) -> the stage of a request they do
        split("accept_clients session_open accept4 __sys_accept4", a, " ")
        for (i in a) stage[a[i]] = "1 accept a client connection"
        split("read_client step_head http_parse_request request_head_pending head_store", a, " ")
        for (i in a) stage[a[i]] = "2 read and parse the request head"
        split("begin_request policy_pick routing_pick sticky_backend dial_pick rr_pick worker_request_id format_client", a, " ")
        for (i in a) stage[a[i]] = "3 choose a backend"
        split("dial_start start_connect after_dial on_connected upstream_take_idle upstream_connect upstream_finish_connect step_connect", a, " ")
        for (i in a) stage[a[i]] = "4 connect to it, or reuse a pooled connection"
        split("request_prepare headers_rewrite_request write_backend", a, " ")
        for (i in a) stage[a[i]] = "5 write the request to the backend"
        split("read_backend response_head http_parse_response response_prepare headers_rewrite_response", a, " ")
        for (i in a) stage[a[i]] = "6 read and parse the response"
        split("write_client response_check_done", a, " ")
        for (i in a) stage[a[i]] = "7 write the response to the client"
        split("write_held hold_in_batch send_batch_run", a, " ")
        for (i in a) stage[a[i]] = "8 write held requests and responses together (io_uring)"
        split("finish_request upstream_release exchange_end exchange_take dial_release settle_buffers head_free", a, " ")
        for (i in a) stage[a[i]] = "9 end the exchange (pool the backend connection)"
        split("log_request access_log_flush stats_request_done stats_ring_write", a, " ")
        for (i in a) stage[a[i]] = "10 logging and statistics"
        split("epoll_wait epoll_ctl __GI_epoll_wait timer_pop_expired arm_timer timer_wait_ms clock_mono_ms session_reap trim session_run_deferred", a, " ")
        for (i in a) stage[a[i]] = "11 event loop: epoll_wait, timers, clock"
    }
    function stage_of(sym) {
        if (sym in stage) return stage[sym]
        if (sym ~ /^stats_/) return "10 logging and statistics"
        return ""
    }
    /^[ \t]*$/ { if (n) { found = found ? found : "12 other (scheduling, start of the thread)"; count[found]++; total++ }
                 n = 0; found = ""; next }
    {
        n++
        if (found != "") next
        sym = $2; sub(/\+0x[0-9a-f]+$/, "", sym)
        s = stage_of(sym)
        if (s != "") found = s
    }
    END {
        if (n) { found = found ? found : "12 other (scheduling, start of the thread)"; count[found]++; total++ }
        printf "\n| stage of a request (lb -w 1, 50 keep-alive clients, 1 KiB) | share of lb'"'"'s CPU | us per request |\n"
        printf "|---|---:|---:|\n"
        for (k = 1; k <= 12; k++) for (s in count) {
            split(s, f, " "); if (f[1] != k) continue
            name = substr(s, length(f[1]) + 2)
            printf "| %s | %.1f%% | %s |\n", name, count[s] * 100 / total,
                (cpu == "?" ? "?" : sprintf("%.2f", cpu * count[s] / total))
        }
        printf "| all (%d samples) | 100%% | %s |\n", total, cpu
    }'
    echo
    echo "the functions lb spends most in (their own time, perf report --no-children):"
    perf report -i "$pdata" --no-children --sort symbol --stdio 2>/dev/null |
        awk '$1 ~ /%$/ { print "  " $0; if (++n == 15) exit }'
else
    echo "profile-lb: perf could not sample lb here ($(tail -1 "$tmp/perf.log" 2>/dev/null));" \
        "use the system call counts below, or valgrind --tool=callgrind on a short run"
fi

# --- 2. the machine's CPU per request: clients, proxy, backends ---------------------------------
# CPU ticks of process $1 and its children (the nginx master and its workers).
tree_ticks() {
    local t c
    t=$(ticks_of "$1")
    for c in $(pgrep -P "$1"); do t=$((t + $(ticks_of "$c"))); done
    echo "$t"
}
# CPU ticks of this shell's finished children (wrk, once waited for): cutime + cstime.
children_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
# Context switches (voluntary and not) of process $1 and its children, all their threads: how
# often they went to sleep or were pushed off their CPU, each a wake-up later.
tree_switches() {
    local p
    for p in "$1" $(pgrep -P "$1"); do cat "/proc/$p/task/"*/status 2>/dev/null; done |
        awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }'
}
# wrk's own context switches come from GNU time (package time) when it is there.
time_cmd=()
if [ -x /usr/bin/time ]; then time_cmd=(/usr/bin/time -f 'switches %w %c'); fi
# Busy and all ticks of the whole machine, summed over its CPUs (/proc/stat, first line).
machine_ticks() { awk '$1 == "cpu" { all = 0; for (i = 2; i <= NF; i++) all += $i; print all - $5 - $6, all; exit }' /proc/stat; }

declare -A sum_n sum_wrk sum_proxy sum_back sum_busy sum_all sw_wrk sw_proxy sw_back
for _ in $(seq "$rounds"); do
    for who in lb haproxy; do
        pid=$lb_pid port=$lb_port
        if [ "$who" = haproxy ]; then pid=$hap_pid port=$hap_port; fi
        read -r m_busy0 m_all0 < <(machine_ticks)
        p0=$(ticks_of "$pid") b0=$(tree_ticks "$backends_pid")
        ps0=$(tree_switches "$pid") bs0=$(tree_switches "$backends_pid")
        w0=$(children_ticks) # last before wrk and first after it: the helpers' own ticks stay out
        "${time_cmd[@]}" wrk -t1 -c"$conns" -d"${seconds}s" "http://127.0.0.1:$port/1k" >"$tmp/wrk-budget.out" 2>&1
        w1=$(children_ticks)
        p1=$(ticks_of "$pid") b1t=$(tree_ticks "$backends_pid")
        ps1=$(tree_switches "$pid") bs1=$(tree_switches "$backends_pid")
        ws=$(awk '$1 == "switches" { print $2 + $3 }' "$tmp/wrk-budget.out")
        sw_wrk[$who]=$((${sw_wrk[$who]:-0} + ${ws:-0}))
        sw_proxy[$who]=$((${sw_proxy[$who]:-0} + ps1 - ps0))
        sw_back[$who]=$((${sw_back[$who]:-0} + bs1 - bs0))
        read -r m_busy1 m_all1 < <(machine_ticks)
        n=$(awk '/requests in/ { print $1 }' "$tmp/wrk-budget.out")
        sum_n[$who]=$((${sum_n[$who]:-0} + ${n:-0}))
        sum_wrk[$who]=$((${sum_wrk[$who]:-0} + w1 - w0))
        sum_proxy[$who]=$((${sum_proxy[$who]:-0} + p1 - p0))
        sum_back[$who]=$((${sum_back[$who]:-0} + b1t - b0))
        sum_busy[$who]=$((${sum_busy[$who]:-0} + m_busy1 - m_busy0))
        sum_all[$who]=$((${sum_all[$who]:-0} + m_all1 - m_all0))
    done
done
echo
echo "| CPU time per request, us ($conns keep-alive clients, 1 KiB, $rounds interleaved runs of ${seconds} s) | with lb | with HAProxy |"
echo "|---|---:|---:|"
for who in lb haproxy; do
    echo "$who ${sum_n[$who]} ${sum_wrk[$who]} ${sum_proxy[$who]} ${sum_back[$who]} ${sum_busy[$who]} ${sum_all[$who]}" \
        "${sw_wrk[$who]} ${sw_proxy[$who]} ${sw_back[$who]}"
done | awk -v hz="$hz" -v secs="$((seconds * rounds))" -v timed="${#time_cmd[@]}" '
    { n[$1] = $2; wrk[$1] = $3; px[$1] = $4; back[$1] = $5; busy[$1] = $6; all[$1] = $7
      swrk[$1] = $8; spx[$1] = $9; sback[$1] = $10 }
    function per(c, who) { return n[who] > 0 ? sprintf("%.3f", c / n[who]) : "?" }
    function us(t, who) { return n[who] > 0 ? sprintf("%.2f", t * 1e6 / hz / n[who]) : "?" }
    function row(name, a, b) { printf "| %s | %s | %s |\n", name, a, b }
    END {
        row("wrk, the clients", us(wrk["lb"], "lb"), us(wrk["haproxy"], "haproxy"))
        row("the proxy", us(px["lb"], "lb"), us(px["haproxy"], "haproxy"))
        row("the backends (nginx, two workers)", us(back["lb"], "lb"), us(back["haproxy"], "haproxy"))
        # what the processes used is read at other instants than the machine: a few ticks off,
        # which can make a small rest negative
        rest_lb = busy["lb"] - wrk["lb"] - px["lb"] - back["lb"]; if (rest_lb < 0) rest_lb = 0
        rest_hap = busy["haproxy"] - wrk["haproxy"] - px["haproxy"] - back["haproxy"]; if (rest_hap < 0) rest_hap = 0
        row("the rest (kernel threads, interrupts, other load)", us(rest_lb, "lb"), us(rest_hap, "haproxy"))
        row("**the machine, busy**", us(busy["lb"], "lb"), us(busy["haproxy"], "haproxy"))
        row("idle, share of all CPUs", sprintf("%.0f%%", 100 - busy["lb"] * 100 / all["lb"]),
            sprintf("%.0f%%", 100 - busy["haproxy"] * 100 / all["haproxy"]))
        row("requests/s", sprintf("%.0f", n["lb"] / secs), sprintf("%.0f", n["haproxy"] / secs))
        row("context switches per request: wrk", timed > 0 ? per(swrk["lb"], "lb") : "?",
            timed > 0 ? per(swrk["haproxy"], "haproxy") : "?")
        row("... the proxy", per(spx["lb"], "lb"), per(spx["haproxy"], "haproxy"))
        row("... the backends", per(sback["lb"], "lb"), per(sback["haproxy"], "haproxy"))
    }'

# --- 3. strace: system calls per request, lb and HAProxy -----------------------------------------
cat >"$tmp/stop.lua" <<EOF
local answered = 0
response = function(status, headers, body)
    answered = answered + 1
    if answered >= $requests then wrk.thread:stop() end
end
EOF
declare -A calls_of
for who in lb haproxy; do
    pid=$lb_pid port=$lb_port
    if [ "$who" = haproxy ]; then pid=$hap_pid port=$hap_port; fi
    strace -c -f -qq -p "$pid" -o "$tmp/strace.$who" &
    st_pid=$!
    pids+=("$st_pid")
    sleep 1
    out=$(timeout 120 wrk -t1 -c"$conns" -d100s -s "$tmp/stop.lua" "http://127.0.0.1:$port/1k" 2>&1)
    kill -INT "$st_pid" 2>/dev/null
    wait_pid "$st_pid"
    done_n=$(awk '/requests in/ { print $1 }' <<<"$out")
    # strace -c: "% time, seconds, usecs/call, calls, [errors,] syscall"; the errors of a
    # nonblocking socket's calls are mostly -EAGAIN
    calls_of[$who]=$(awk -v n="${done_n:-0}" '
        $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            calls[$NF] = $4; errs[$NF] = (NF == 6 ? $5 : 0) }
        END { for (k in calls) if (n > 0) printf "%s %.2f %.2f\n", k, calls[k] / n, errs[k] / n }' "$tmp/strace.$who")
    echo "strace: $who answered ${done_n:-?} requests"
done
echo
echo "| system calls per request ($conns keep-alive clients, 1 KiB; failed ones, mostly -EAGAIN, in brackets) | lb | HAProxy |"
echo "|---|---:|---:|"
{
    while read -r name v e; do echo "lb $name $v $e"; done <<<"${calls_of[lb]}"
    while read -r name v e; do echo "haproxy $name $v $e"; done <<<"${calls_of[haproxy]}"
} | awk '$2 != "" { v[$2, $1] = $3; e[$2, $1] = $4; names[$2] = 1; tot[$1] += $3; etot[$1] += $4 }
    function cell(n, who) { return sprintf("%.2f", v[n, who]) (e[n, who] >= 0.01 ? sprintf(" (%.2f)", e[n, who]) : "") }
    END {
        for (n in names) if (v[n, "lb"] + v[n, "haproxy"] >= 0.01)
            printf "| %s | %s | %s |\n", n, cell(n, "lb"), cell(n, "haproxy")
        printf "| all | %.2f (%.2f) | %.2f (%.2f) |\n", tot["lb"], etot["lb"], tot["haproxy"], etot["haproxy"]
    }' | sort -t'|' -k3 -gr | awk '/\| all \|/ { last = $0; next } { print } END { print last }'
