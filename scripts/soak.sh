#!/usr/bin/env bash
# soak.sh - `make soak`: lb under load for SOAK_SECONDS (default 180) with faults injected on a
# schedule, every body checked, every error explained or reported.
#
# Three backend-sim processes (b1 b2 b3, one each so that one can be frozen or killed alone) and
# lb (2 workers, short timeouts) on free loopback ports; the soak client (scripts/tools/
# soak_client.c) sends a mix through lb on SOAK_CONNS connections: bodies of every size checked
# by hash, uploads echoed, slow readers, and faults of its own (backend-sim's /close/N cutting a
# body, /reset, uploads aborted half-way), each of which must show the way it should. Meanwhile
# this script:
#   at 25% of the time   freezes b2 (SIGSTOP) for 15% of it, then resumes it (SIGCONT)
#   at 50%               kills b3 (SIGKILL) and starts it again on its port at 60%
#   at 70%               lowers lb's descriptor limit to just above what it holds (prlimit) and
#                        puts it back at 80%: accepts pause, backend sockets fail with EMFILE
# and writes each window to a file the client reads at the end, to tell errors the faults explain
# from the others. Then it prints the client's report, lb's descriptors and resident memory
# before and after (idle both times), and whether the access log and lb's statistics (lbtop
# --json) count one request per request the clients sent. Exit status 0 only when everything agrees.
# Usage: SOAK_SECONDS=N SOAK_CONNS=N scripts/soak.sh BIN_DIR SOAK_CLIENT
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -euo pipefail
bin="${1:?usage: soak.sh BIN_DIR SOAK_CLIENT}"
client="${2:?usage: soak.sh BIN_DIR SOAK_CLIENT}"
seconds="${SOAK_SECONDS:-180}"
conns="${SOAK_CONNS:-32}"

script_name=soak
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "$seconds" in '' | *[!0-9]*) die "SOAK_SECONDS must be a number of seconds, not '$seconds'" ;; esac
[ "$seconds" -ge 20 ] || die "SOAK_SECONDS must be at least 20 (the fault schedule needs room)"
for prog in "$bin/lb" "$bin/backend-sim" "$client"; do
    [ -x "$prog" ] || die "$prog is missing (make all)"
done

make_temp_dir
free_port lb_port p1 p2 p3
ports=("$p1" "$p2" "$p3")
names=(b1 b2 b3)
declare -A sim_pid

now_ms() { date +%s%3N; }

start_sim() { # index
    local i=$1
    "$bin/backend-sim" -p "127.0.0.1:${ports[$i]}" --name "${names[$i]}" \
        >>"$tmp/${names[$i]}.log" 2>&1 &
    sim_pid[$i]=$!
    pids+=("$!")
    wait_port "${ports[$i]}" "$!" || die "backend-sim ${names[$i]} did not start"
}

fds_of() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kb_of() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

for i in 0 1 2; do start_sim "$i"; done
"$bin/lb" -l "127.0.0.1:$lb_port" -w 2 \
    -b "127.0.0.1:$p1,name=b1" -b "127.0.0.1:$p2,name=b2" -b "127.0.0.1:$p3,name=b3" \
    --connect-timeout 500 --server-timeout 1000 --client-timeout 5000 \
    --access-log "$tmp/access.log" 2>"$tmp/lb.err" &
lb_pid=$!
pids+=("$lb_pid")
wait_port "$lb_port" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.err")"
sleep 1
fds_before=$(fds_of "$lb_pid")
rss_before=$(rss_kb_of "$lb_pid")

echo "soak: ${seconds} s, ${conns} connections, lb on :$lb_port, b1 b2 b3 on :$p1 :$p2 :$p3"
: >"$tmp/faults"
"$client" -p "$lb_port" -c "$conns" -d "$seconds" --faults "$tmp/faults" >"$tmp/client.out" \
    2>"$tmp/client.err" &
client_pid=$!
pids+=("$client_pid")
t0=$(now_ms)
at() { # wait until PERCENT of the run has passed
    local until=$((t0 + seconds * 10 * $1))
    local now
    now=$(now_ms)
    [ "$now" -ge "$until" ] || sleep "$(awk -v ms=$((until - now)) 'BEGIN { print ms / 1000 }')"
}

at 25
start=$(now_ms)
kill -STOP "${sim_pid[1]}"
echo "soak: +$(((start - t0) / 1000)) s  b2 frozen (SIGSTOP)"
at 40
kill -CONT "${sim_pid[1]}"
echo "$start $(now_ms) freeze b2" >>"$tmp/faults"
echo "soak: +$((($(now_ms) - t0) / 1000)) s  b2 resumed (SIGCONT)"

at 50
start=$(now_ms)
kill -KILL "${sim_pid[2]}"
wait_pid "${sim_pid[2]}"
echo "soak: +$(((start - t0) / 1000)) s  b3 killed (SIGKILL)"
at 60
start_sim 2
echo "$start $(now_ms) kill b3" >>"$tmp/faults"
echo "soak: +$((($(now_ms) - t0) / 1000)) s  b3 started again"

# descriptor pressure: lb's soft limit just above what it holds, for 10% of the time (lowering
# and raising a soft limit below the hard one needs no privilege)
if command -v prlimit >/dev/null; then
    at 70
    start=$(now_ms)
    limits=$(prlimit --pid "$lb_pid" --nofile --noheadings --output SOFT,HARD)
    read -r soft hard <<<"$limits"
    held=$(fds_of "$lb_pid")
    prlimit --pid "$lb_pid" --nofile="$((held + 4)):$hard"
    echo "soak: +$(((start - t0) / 1000)) s  lb's descriptor limit lowered to $((held + 4)) (it holds $held)"
    at 80
    prlimit --pid "$lb_pid" --nofile="$soft:$hard"
    echo "$start $(now_ms) fd-pressure lb" >>"$tmp/faults"
    echo "soak: +$((($(now_ms) - t0) / 1000)) s  lb's descriptor limit back to $soft"
else
    echo "soak: prlimit (util-linux) is missing: no descriptor pressure this time"
fi

wait_pid "$client_pid"
cat "$tmp/client.out"
sed 's/^/  /' "$tmp/client.err" | head -20

# idle again: lb's descriptors come back down as backend-sim closes idle pooled connections
# (after 5 s); give it up to 15 s
fds_after=$(fds_of "$lb_pid")
for _ in $(seq 30); do
    [ "$fds_after" -le "$fds_before" ] && break
    sleep 0.5
    fds_after=$(fds_of "$lb_pid")
done
rss_after=$(rss_kb_of "$lb_pid")
# lb's statistics, as lbtop reads them: the requests lb counted
counted=$("$bin/lbtop" -p "$lb_port" --json 2>/dev/null |
    sed -n 's/^    "requests": \([0-9]*\),$/\1/p' | head -1)
stop_pid "$lb_pid"

summary=$(grep '^SOAK ' "$tmp/client.out" || true)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$summary"; }
sent=$(field sent)
logged=$(grep -vc ' event=' "$tmp/access.log" || true)
status=0
echo "lb: descriptors ${fds_before} before, ${fds_after} after; resident memory $((rss_before / 1024)) MB before, $((rss_after / 1024)) MB after"
if [ "$fds_after" -gt "$fds_before" ]; then
    echo "soak: FAIL: lb holds $((fds_after - fds_before)) more descriptors than before, idle"
    status=1
fi
for code in 502 503 504; do
    echo "access log: status=$code $(grep -c " status=$code " "$tmp/access.log" || true) lines; the clients read $(field "status$code") (an aborted upload reads no answer)"
done
if [ -z "$sent" ] || [ "$logged" != "$sent" ]; then
    echo "soak: FAIL: the access log has ${logged} request lines, the clients sent ${sent:-?} requests"
    status=1
else
    echo "access log: ${logged} request lines, one per request the clients sent"
fi
if [ "${counted:-}" != "$sent" ]; then
    echo "soak: FAIL: lb's statistics count ${counted:-?} requests, the clients sent ${sent:-?}"
    status=1
else
    echo "statistics: ${counted} requests (lbtop --json), one per request the clients sent"
fi
echo "lb's log: $(wc -l <"$tmp/lb.err") lines (warnings are rate-limited: one a second per kind)"
if [ -z "$summary" ] || [ "$(field unexplained)" != 0 ] || [ "$(field throughput_ok)" != 1 ]; then
    echo "soak: FAIL: the client found unexplained errors, or a stall (see above)"
    status=1
fi
if [ "$status" -eq 0 ]; then echo "soak: PASS"; fi
exit "$status"
