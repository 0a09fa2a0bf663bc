#!/usr/bin/env bash
# bench-lb.sh - throughput and latency of lb next to HAProxy and nginx, configured alike: one
# worker (or thread) each, round robin over the same backends, keep-alive to them.
#
# Usage: scripts/bench-lb.sh BIN_DIR
#   Environment: BENCH_SECONDS (3, seconds per cell), BENCH_ROUNDS (5),
#                BENCH_SCALE (clients of the scaling rows, default "1 10 100 1000 10000"),
#                LBLAB_BENCH_ROWS (a file: the rows are also appended to it, tab-separated, for
#                scripts/report-bench.sh; `make bench` sets it).
#
# The backends are one nginx (two workers) serving static files, 1 KiB (/1k) and 1 MiB (/1m), on
# three ports, so that they are never what limits; one backend-sim process serves three more
# ports, for the backend-sim row. The proxies listen on free loopback ports. One round measures
# every row with the three proxies in a rotating order (lb first, then HAProxy first, then nginx
# first), and each cell of the table is the median over BENCH_ROUNDS rounds: single runs on a
# shared machine swing by a quarter, interleaved medians much less. The rows:
#   50 keep-alive clients, 1 KiB: requests/s, p99 latency (wrk -t1 -c50) and the proxy's CPU
#                                 time per request (its processes' user and system time from
#                                 /proc over the cell, divided by the requests served)
#   50 clients, 2 workers each:   requests/s (lb -w 2, nbthread 2, worker_processes 2), and lb's
#                                 two workers against its one
#   1 client, 1 KiB:              requests/s, p99 (wrk -t1 -c1) and CPU per request
#   50 clients, 1 MiB:            requests/s and CPU per request
#   50 clients, Connection: close: requests/s (a new client connection per request)
#   50 clients, backend-sim /whoami: requests/s (the proxies in front of backend-sim instead)
#   scaling: requests/s and p99 at each BENCH_SCALE client count (1 KiB, keep-alive)
# lb runs as it ships (statistics on, no access log, accepting a connection when its request
# arrives: TCP_DEFER_ACCEPT), and the peers defer their accepts alike (HAProxy's defer-accept,
# nginx's listen ... deferred). The open-file limit is raised for the 10,000-client row, and every
# listener's backlog is 4096 (lb's and HAProxy's already are; nginx's default, 511, overflows
# when 10,000 clients make a proxy open thousands of backend connections at once: SYNs dropped,
# connects timing out, and lb's passive health checks then took the backends out for the next
# rows, which answered 503). Configs and logs live in a temporary directory removed at the end;
# every process is stopped by its PID. Numbers are only comparable within one run.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

bin="${1:-bin}"
seconds="${BENCH_SECONDS:-3}"
rounds="${BENCH_ROUNDS:-5}"
scale="${BENCH_SCALE:-1 10 100 1000 10000}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$bin/lb" ] || die "no $bin/lb (run make first)"
[ -x "$bin/backend-sim" ] || die "no $bin/backend-sim (run make first)"
need_tools wrk haproxy nginx curl
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, not '$rounds'"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer, not '$seconds'"
most=1
for c in $scale; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE must list positive integers, not '$c'"
    if [ "$c" -gt "$most" ]; then most=$c; fi
done

# Each proxy holds a client and a backend connection per client: raise the open-file limit as
# far as this shell may (every process started below inherits it).
fds=$((2 * most + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$fds" ]; then fds=$hard; fi
ulimit -n "$fds" || die "cannot raise the open-file limit to $fds"
maxconn=$(((fds - 200) / 2)) # HAProxy: two descriptors per connection, a margin for the rest

make_temp_dir
chmod 711 "$tmp" || die "chmod failed"
free_port b1 b2 b3 s1 s2 s3

# --- the backends ------------------------------------------------------------------------------
mkdir -p "$tmp/www" "$tmp/backends"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/www/1k"
head -c $((1024 * 1024)) /dev/zero | tr '\0' 'x' >"$tmp/www/1m"
if ! chmod 755 "$tmp/www" || ! chmod 644 "$tmp/www/1k" "$tmp/www/1m"; then die "chmod failed"; fi
start_static_backends "$tmp/backends" 2 "$fds" "$tmp/www" "$b1" "$b2" "$b3"
"$bin/backend-sim" -p "127.0.0.1:$s1" -p "127.0.0.1:$s2" -p "127.0.0.1:$s3" >"$tmp/backend-sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
for p in "$s1" "$s2" "$s3"; do
    wait_port "$p" "$sim_pid" || die "backend-sim did not start: $(cat "$tmp/backend-sim.log")"
done

# --- the proxies -------------------------------------------------------------------------------
names=(lb haproxy nginx)
declare -A port proxy_pid

# Starts proxy $1 as instance $2 with $3 workers over backend ports $4 $5 $6.
start_proxy() {
    local name=$1 key="$1,$2" workers=$3 p
    free_port p
    port[$key]=$p
    case "$name" in
    lb)
        "$bin/lb" -l "127.0.0.1:$p" -b "127.0.0.1:$4" -b "127.0.0.1:$5" -b "127.0.0.1:$6" \
            -w "$workers" >"$tmp/lb-$2.log" 2>&1 &
        ;;
    haproxy)
        cat >"$tmp/haproxy-$2.cfg" <<EOF
global
    nbthread $workers
    maxconn $maxconn
    log stderr format raw local0 emerg

defaults
    mode http
    maxconn $maxconn
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive

frontend fe
    bind 127.0.0.1:$p defer-accept
    default_backend be

backend be
    balance roundrobin
    http-reuse always
    server b1 127.0.0.1:$4
    server b2 127.0.0.1:$5
    server b3 127.0.0.1:$6
EOF
        haproxy -db -f "$tmp/haproxy-$2.cfg" >"$tmp/haproxy-$2.log" 2>&1 &
        ;;
    nginx)
        mkdir -p "$tmp/nginx-$2"
        {
            echo "worker_rlimit_nofile $fds;"
            nginx_conf_start "$tmp/nginx-$2" "$workers" | sed "s/worker_connections 4096/worker_connections $fds/"
            cat <<EOF
    keepalive_requests 1000000;
    upstream be {
        server 127.0.0.1:$4; server 127.0.0.1:$5; server 127.0.0.1:$6;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:$p backlog=4096 deferred;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
        } >"$tmp/nginx-$2/nginx.conf"
        nginx -e "$tmp/nginx-$2/error.log" -p "$tmp/nginx-$2" -c "$tmp/nginx-$2/nginx.conf" \
            >"$tmp/nginx-$2.log" 2>&1 &
        ;;
    esac
    proxy_pid[$key]=$!
    pids+=("$!")
    wait_port "$p" "$!" || die "$name ($2) did not start: $(tail -3 "$tmp/$name-$2"*.log "$tmp/nginx-$2/error.log" 2>/dev/null)"
}

for n in "${names[@]}"; do
    start_proxy "$n" static 1 "$b1" "$b2" "$b3"
    start_proxy "$n" sim 1 "$s1" "$s2" "$s3"
    start_proxy "$n" two 2 "$b1" "$b2" "$b3"
done

# Each proxy answers with the whole file before it is measured.
for n in "${names[@]}"; do
    for inst in static two; do
        for f in 1k 1m; do
            got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${port[$n,$inst]}/$f")
            want="200 $(stat -c %s "$tmp/www/$f")"
            [ "$got" = "$want" ] || die "$n ($inst) answered /$f with '$got', not '$want'"
        done
    done
    got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[$n,sim]}/whoami")
    [ "$got" = 200 ] || die "$n (backend-sim) answered /whoami with '$got', not 200"
done

# --- the measurements --------------------------------------------------------------------------

# wrk's latency ("812.00us", "3.21ms", "1.02s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub("us", "", v); printf "%.3f", v / 1000 }
                          else if (v ~ /ms$/) { sub("ms", "", v); printf "%.2f", v }
                          else if (v ~ /s$/) { sub("s", "", v); printf "%.0f", v * 1000 }
                          else print "?" }'
}

# One cell: wrk with $1 clients against URL $2 (more wrk arguments after). Prints
# "requests/s p99_ms errors"; bounded in time even if a target hangs.
measure() {
    local clients=$1 url=$2 threads=1 secs=$seconds out rps p99 errs
    shift 2
    # thousands of clients: two wrk threads, and two more seconds for wrk to open the connections
    if [ "$clients" -ge 1000 ]; then threads=2 secs=$((seconds + 2)); fi
    out=$(timeout $((secs + 60)) wrk -t"$threads" -c"$clients" -d"${secs}s" --timeout 10s \
        --latency "$@" "$url" 2>&1)
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2; exit }' <<<"$out")
    errs=$(wrk_errors <<<"$out")
    echo "${rps:-0} $(to_ms "${p99:-?}") ${errs:-0}"
}

# After a cell with thousands of clients the proxy on port $1 still has their connections to
# close: a quarter of a second of its time or more, which would land in the next cell (the
# 50-client row after the 10,000-client one measured a p99 of 150 to 380 ms instead of 3, with lb
# and HAProxy alike). Waits until fewer than 100 connections are left on the port (at most 10 s),
# then a second more.
settle() {
    local i
    if command -v ss >/dev/null 2>&1; then
        for ((i = 0; i < 100; i++)); do
            [ "$(ss -Htan "( sport = :$1 )" 2>/dev/null | grep -vc LISTEN)" -lt 100 ] && break
            sleep 0.1
        done
    fi
    sleep 1
}

# lb's own counters of its event loop (what lbtop's WORKERS view shows) on port $1, its
# requests so far, the bytes it spliced and the bytes it sent to clients: "wake-ups events
# held-writes io_uring_enter-calls sendmsg-calls requests spliced-bytes bytes-out".
loop_counts() {
    "$bin/lbtop" -p "$1" --json 2>/dev/null | awk '
        /"event_loop": \{/ {
            match($0, /"event_loop": \{[^}]*\}/)
            s = substr($0, RSTART, RLENGTH)
            gsub(/[^0-9]+/, " ", s)
            split(s, v, " ")
        }
        /"splice": \{/ {
            match($0, /"splice": \{[^}]*\}/)
            s = substr($0, RSTART, RLENGTH)
            gsub(/[^0-9]+/, " ", s)
            split(s, sp, " ")
        }
        /"totals": \{/ { in_totals = 1 }
        in_totals && requests == "" && /"requests": / { match($0, /[0-9]+/); requests = substr($0, RSTART, RLENGTH) }
        in_totals && out == "" && /"bytes_out": / { match($0, /[0-9]+/); out = substr($0, RSTART, RLENGTH) }
        END { printf "%d %d %d %d %d %d %.0f %.0f\n", v[1], v[2], v[3], v[4], v[5], requests, sp[1], out }'
}
declare -A loop_sum # key -> the eight sums over lb's cells of that row

# The rows: key, instance, clients, path, extra wrk argument, and what the table shows.
# The two-worker row follows the one-worker row, so that lb's two cells of a round are close in
# time and their ratio (below) feels little of the machine's drift.
rows=(
    "ka50|static|50|/1k|"
    "two|two|50|/1k|"
    "ka1|static|1|/1k|"
    "mib|static|50|/1m|"
    "close|static|50|/1k|Connection: close"
    "sim|sim|50|/whoami|"
)
for c in $scale; do rows+=("scale$c|static|$c|/1k|"); done

declare -A rps_s p99_s errors cpu_s
# The processes that do proxy n's work for instance inst, for its CPU time per request: lb's one
# process, HAProxy's, nginx's master and its workers.
hz=$(getconf CLK_TCK)
work_pids() {
    local pid=${proxy_pid[$1,$2]}
    echo "$pid"
    if [ "$1" = nginx ]; then pgrep -P "$pid"; fi
}
echo "bench-lb: $rounds rounds of ${#rows[@]} rows x 3 proxies, ${seconds}s a cell (about" \
    "$((rounds * ${#rows[@]} * 3 * (seconds + 1) / 60 + 1)) min); backends: nginx static on :$b1 :$b2 :$b3," \
    "backend-sim on :$s1 :$s2 :$s3"
for ((r = 0; r < rounds; r++)); do
    for row in "${rows[@]}"; do
        IFS='|' read -r key inst clients path header <<<"$row"
        extra=()
        if [ -n "$header" ]; then extra=(-H "$header"); fi
        for ((k = 0; k < ${#names[@]}; k++)); do
            n=${names[$(((k + r) % ${#names[@]}))]}
            watch_loop=false watch_cpu=false
            case "$n,$key" in lb,ka50 | lb,two | lb,ka1 | lb,mib) watch_loop=true ;; esac
            case "$key" in ka50 | ka1 | mib) watch_cpu=true ;; esac
            if $watch_loop; then read -r -a before < <(loop_counts "${port[$n,$inst]}"); fi
            if $watch_cpu; then
                mapfile -t busy < <(work_pids "$n" "$inst")
                t0=$(cpu_ticks "${busy[@]}")
            fi
            read -r rps p99 errs < <(measure "$clients" "http://127.0.0.1:${port[$n,$inst]}$path" "${extra[@]}")
            if $watch_cpu; then
                t1=$(cpu_ticks "${busy[@]}")
                cpu_s[$key,$n]+=" $(cpu_us_per "$t0" "$t1" "$hz" "$rps" "$seconds")"
            fi
            if $watch_loop; then
                read -r -a after < <(loop_counts "${port[$n,$inst]}")
                read -r -a sum <<<"${loop_sum[$key]:-0 0 0 0 0 0 0 0}"
                for i in 0 1 2 3 4 5 6 7; do sum[i]=$((sum[i] + ${after[i]:-0} - ${before[i]:-0})); done
                loop_sum[$key]="${sum[*]}"
            fi
            if [ "$clients" -ge 1000 ]; then settle "${port[$n,$inst]}"; fi
            rps_s[$key,$n]+=" $rps"
            p99_s[$key,$n]+=" $p99"
            errors[$key,$n]=$((${errors[$key,$n]:-0} + errs))
            if [ "$errs" != 0 ]; then echo "bench-lb: round $((r + 1)), $n, $key: $errs errors (wrk)"; fi
        done
    done
    echo "bench-lb: round $((r + 1))/$rounds done"
    for inst in static sim two; do
        kill -0 "${proxy_pid[lb,$inst]}" 2>/dev/null || die "lb ($inst) died during the benchmark: $(tail -5 "$tmp/lb-$inst.log")"
    done
done

# --- the table ---------------------------------------------------------------------------------

# The median of a cell's samples ("?" samples left out).
med() {
    # shellcheck disable=SC2086 # the samples are words
    printf '%s\n' $1 | grep -E '^[0-9.]+$' | median
}
# One row: writes it to LBLAB_BENCH_ROWS (when set) and prints it. $1 section, $2 label,
# $3 unit, $4 better (more or less), then lb, HAProxy, nginx.
emit() {
    bench_row "$@"
    local best
    if [ "$4" = more ]; then
        best=$(printf '%s\n' "$6" "$7" | sort -g | tail -1)
    else
        best=$(printf '%s\n' "$6" "$7" | sort -g | head -1)
    fi
    printf '%-42s %12s %12s %12s %8s\n' "$2 ($3)" "$5" "$6" "$7" "$(ratio "$5" "$best")"
}

printf '\n%-42s %12s %12s %12s %8s\n' "median of $rounds, 1 worker each" lb haproxy nginx "lb/best"
label_of() {
    case "$1" in
    ka50) echo "50 keep-alive clients, 1 KiB" ;;
    ka1) echo "1 client, 1 KiB" ;;
    mib) echo "50 clients, 1 MiB" ;;
    close) echo "50 clients, Connection: close, 1 KiB" ;;
    sim) echo "50 clients, backend-sim /whoami" ;;
    two) echo "50 clients, 1 KiB, 2 workers each" ;;
    scale1) echo "1 client, 1 KiB" ;;
    scale*) echo "${1#scale} clients, 1 KiB" ;;
    esac
}
for row in "${rows[@]}"; do
    key=${row%%|*}
    section=http
    case "$key" in scale*) section=scaling ;; esac
    m=()
    for n in "${names[@]}"; do m+=("$(med "${rps_s[$key,$n]}")"); done
    emit "$section" "$(label_of "$key")" "req/s" more "${m[@]}"
    case "$key" in ka50 | ka1 | scale*)
        m=()
        for n in "${names[@]}"; do m+=("$(med "${p99_s[$key,$n]}")"); done
        emit "$section" "$(label_of "$key"): p99" ms less "${m[@]}"
        ;;
    esac
    case "$key" in ka50 | ka1 | mib)
        m=()
        for n in "${names[@]}"; do m+=("$(med "${cpu_s[$key,$n]}")"); done
        emit "$section" "$(label_of "$key"): CPU per request" us less "${m[@]}"
        ;;
    esac
done

# lb with two workers against lb with one, same load, same run: the median of each round's
# ratio, since the two cells of a round are seconds apart and the rounds minutes apart.
# shellcheck disable=SC2086 # the samples are words
per_round=$(paste -d ' ' <(printf '%s\n' ${rps_s[two,lb]}) <(printf '%s\n' ${rps_s[ka50,lb]}) |
    awk '$1 + 0 > 0 && $2 + 0 > 0 { printf "%.2f\n", $1 / $2 }')
two_over_one="?"
if [ -n "$per_round" ]; then two_over_one=$(median <<<"$per_round"); fi
echo
echo "lb -w 2 / lb -w 1 at 50 clients: $two_over_one (median of the rounds: ${per_round//$'\n'/ };" \
    "two workers should never be slower than one)"
bench_note "lb -w 2 / lb -w 1 at 50 keep-alive clients: $two_over_one (median of the ratios of $rounds rounds; two workers should never be slower than one)"
# How lb's event loop batched its work in those cells (its own counters, read before and after
# each of its cells): why a request costs it less at 50 clients than at one.
batching=""
for key in ka50 two ka1; do
    read -r -a v <<<"${loop_sum[$key]:-0 0 0 0 0 0 0 0}"
    if [ "${v[0]}" -le 0 ] || [ "${v[5]}" -le 0 ]; then continue; fi
    calls=$((v[3] + v[4]))
    how="nothing held"
    if [ "${v[2]}" -gt 0 ] && [ "$calls" -gt 0 ]; then
        how=$(awk -v h="${v[2]}" -v c="$calls" -v u="${v[3]}" 'BEGIN {
            printf "%.1f held writes per %s", h / c, (u * 2 >= c ? "io_uring_enter()" : "sendmsg()") }')
    fi
    batching+="$(awk -v w="${v[0]}" -v e="${v[1]}" -v r="${v[5]}" -v label="$(label_of "$key")" -v how="$how" 'BEGIN {
        printf "%s: %.1f events per wake-up, %.2f wake-ups per request, %s", label, e / w, w / r, how }')"
    batching+="; "
done
if [ -n "$batching" ]; then
    echo
    echo "lb's event loop (its own counters over its cells): ${batching%; }"
    bench_note "lb's event loop over its cells (lbtop's WORKERS view counts the same): ${batching%; }"
fi
# How much of the 1 MiB row's traffic lb spliced (socket to socket through a pipe, never through
# its buffers): why that row costs it so much less than its peers.
read -r -a v <<<"${loop_sum[mib]:-0 0 0 0 0 0 0 0}"
if [ "${v[7]}" -gt 0 ]; then
    spliced=$(awk -v s="${v[6]}" -v o="${v[7]}" 'BEGIN { printf "%.1f%%", 100 * s / o }')
    echo
    echo "lb spliced $spliced of the bytes it sent in its 1 MiB cells (its own counters)"
    bench_note "lb spliced $spliced of the bytes it sent to clients in its 50 clients, 1 MiB cells (lbtop's splice line counts the same; with --no-splice it copies them through its buffers)"
fi

echo
echo "(lb/best: lb divided by the best of HAProxy and nginx on that row: the highest requests/s, the"
echo " lowest p99. Errors over all rounds, socket errors plus non-2xx/3xx as wrk counts them:)"
for row in "${rows[@]}"; do
    key=${row%%|*}
    printf '  %-42s lb %s, haproxy %s, nginx %s;  lb samples:%s\n' "$(label_of "$key")" \
        "${errors[$key,lb]}" "${errors[$key,haproxy]}" "${errors[$key,nginx]}" "${rps_s[$key,lb]}"
    if [ "${errors[$key,lb]}" != 0 ]; then bench_note "lb had ${errors[$key,lb]} errors (wrk) on: $(label_of "$key")"; fi
done
# What lb said about its errors, if it said anything (the same message once, with its count).
for inst in static sim two; do
    said=$(grep -v -e '^lb: listening' -e '^lb: statistics' -e '^lb: the writes of a batch' "$tmp/lb-$inst.log" | sort | uniq -c | sort -rn | head -5)
    if [ -n "$said" ]; then printf '\nlb (%s) logged:\n%s\n' "$inst" "$said"; fi
done
