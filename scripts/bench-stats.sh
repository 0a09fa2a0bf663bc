#!/usr/bin/env bash
# bench-stats.sh - what lb's shared-memory statistics cost: requests per second through lb with
# statistics on and with --no-stats, same backends, same load (wrk, keep-alive, one lb worker),
# runs alternating on/off (and which goes first), medians compared: the overhead in percent of
# requests per second, and of lb's CPU time per request. Fails when the throughput overhead is
# 3% or more, unless the machine's own run-to-run noise is larger than the difference measured
# (then it says the result is inconclusive).
#
# Usage: scripts/bench-stats.sh [BIN_DIR]     (default bin; run by `make bench`)
# Environment: DURATION (seconds per run, default BENCH_SECONDS or 4), ROUNDS (default 5),
# CONNS (default 32), PERF_SECONDS (4) and PERF_ROUNDS (3): the perf windows, whose median
# share of lb's samples in the statistics functions is checked against the limit.
# Uses free loopback ports (10000 and up, below the ephemeral range, never 3000-3003); stops what it
# started by PID.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -euo pipefail

bin="${1:-bin}"
duration="${DURATION:-${BENCH_SECONDS:-4}}"
rounds="${ROUNDS:-5}"
conns="${CONNS:-32}"
perf_seconds="${PERF_SECONDS:-4}"
perf_rounds="${PERF_ROUNDS:-3}"
limit=3

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for p in "$bin/lb" "$bin/backend-sim"; do
    [ -x "$p" ] || die "$p is missing (run make first)"
done
command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh bench)"

make_temp_dir
free_port b1 b2
"$bin/backend-sim" -p "127.0.0.1:$b1" -p "127.0.0.1:$b2" >"$tmp/backend-sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
for p in "$b1" "$b2"; do
    wait_port "$p" "$sim_pid" || die "backend-sim did not start: $(cat "$tmp/backend-sim.log")"
done

# Starts lb on a free port with the given extra flags, sets lb_port and lb_pid.
start_lb() {
    free_port lb_port
    "$bin/lb" -l "127.0.0.1:$lb_port" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -w 1 "$@" \
        >"$tmp/lb.log" 2>&1 &
    lb_pid=$!
    pids+=("$lb_pid")
    wait_port "$lb_port" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.log")"
}

# One measurement: lb with the given extra flags, wrk against it. Sets m_rps, requests per
# second, and m_cpu, lb's CPU time (user + system) per request in microseconds. It runs in this
# shell, not in a $(...) subshell, so that the lb it starts is in pids if the script is stopped.
measure() {
    local out n ticks hz
    start_lb "$@"
    out=$(wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$lb_port/whoami" 2>/dev/null || true)
    ticks=$(awk '{ print $14 + $15 }' "/proc/$lb_pid/stat" 2>/dev/null || echo 0)
    stop_pid "$lb_pid"
    m_rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    m_rps=${m_rps:-0}
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    hz=$(getconf CLK_TCK)
    m_cpu=$(awk -v n="${n:-0}" -v t="$ticks" -v hz="$hz" \
        'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
}


on_rps=() off_rps=() on_cpu=() off_cpu=()
for r in $(seq 1 "$rounds"); do
    # Alternate which goes first, so a drift in the machine's load favours neither.
    if [ $((r % 2)) -eq 1 ]; then
        measure --no-stats; orps=$m_rps ocpu=$m_cpu
        measure; nrps=$m_rps ncpu=$m_cpu
    else
        measure; nrps=$m_rps ncpu=$m_cpu
        measure --no-stats; orps=$m_rps ocpu=$m_cpu
    fi
    on_rps+=("$nrps") off_rps+=("$orps") on_cpu+=("$ncpu") off_cpu+=("$ocpu")
    printf 'bench-stats: round %d/%d: statistics on %9.0f req/s (%6.2f us CPU/req)   off %9.0f req/s (%6.2f us CPU/req)\n' \
        "$r" "$rounds" "$nrps" "$ncpu" "$orps" "$ocpu"
done

# Where lb's CPU goes with statistics on, sampled by perf when the kernel lets us: the share of
# samples inside the statistics functions (their own time; memcpy/clock_gettime they call are
# counted with libc). Unlike requests per second, this is not moved by other load on the machine.
perf_share=""
perf_samples=""
if command -v perf >/dev/null 2>&1; then
    # The share moves with what else runs on the machine (the statistics write to shared memory
    # that other programs push out of the caches): the median of PERF_ROUNDS windows of
    # PERF_SECONDS, each on a fresh lb, decides, not one window.
    pdata="$tmp/perf.data"
    for _ in $(seq 1 "$perf_rounds"); do
        start_lb
        wrk -t1 -c"$conns" -d"$((perf_seconds + 2))s" "http://127.0.0.1:$lb_port/whoami" >/dev/null 2>&1 &
        wrk_pid=$!
        pids+=("$wrk_pid")
        sleep 1
        if timeout "$perf_seconds" perf record -q -F 2000 -p "$lb_pid" -o "$pdata" >/dev/null 2>&1 ||
            [ -s "$pdata" ]; then
            perf_samples+=" $(perf report -i "$pdata" --no-children --sort symbol --stdio 2>/dev/null |
                awk '$1 ~ /%$/ && $3 ~ /^stats_/ { sub("%", "", $1); s += $1 } END { printf "%.2f", s }')"
        fi
        wait_pid "$wrk_pid"
        stop_pid "$lb_pid"
        rm -f "$pdata"
    done
    # shellcheck disable=SC2086 # the samples are words
    if [ -n "$perf_samples" ]; then perf_share=$(printf '%s\n' $perf_samples | median); fi
fi

m_on=$(printf '%s\n' "${on_rps[@]}" | median)
m_off=$(printf '%s\n' "${off_rps[@]}" | median)
c_on=$(printf '%s\n' "${on_cpu[@]}" | median)
c_off=$(printf '%s\n' "${off_cpu[@]}" | median)
spread=$(printf '%s\n' "${off_rps[@]}" | sort -g |
    awk -v m="$m_off" '{ v[NR] = $1 } END { printf "%.1f", (m > 0 ? (v[NR] - v[1]) * 100 / m : 0) }')
overhead=$(awk -v on="$m_on" -v off="$m_off" \
    'BEGIN { if (off <= 0) print "nan"; else printf "%.2f", (off - on) * 100 / off }')
cpu_overhead=$(awk -v on="$c_on" -v off="$c_off" \
    'BEGIN { if (off <= 0) print "nan"; else printf "%.2f", (on - off) * 100 / off }')

echo "lb with statistics:  $m_on requests/s, $c_on us CPU per request (median of $rounds runs of ${duration}s, $conns connections, 1 worker)"
echo "lb --no-stats:       $m_off requests/s, $c_off us CPU per request"
echo "statistics overhead: ${overhead}% of requests/s, ${cpu_overhead}% CPU per request (limit ${limit}%)"
echo "run-to-run spread without statistics: ${spread}% of the median"
[ -n "$perf_share" ] && echo "perf: ${perf_share}% of lb's CPU samples are in the statistics functions" \
    "(median of $perf_rounds windows of ${perf_seconds}s:${perf_samples})"
perf_note=""
[ -n "$perf_share" ] && perf_note="; perf: ${perf_share}% of lb's samples in stats_*"
bench_note "lb's shared-memory statistics cost ${overhead}% of its requests/s (${cpu_overhead}% CPU per request;" \
    "run-to-run spread ${spread}%${perf_note}): scripts/bench-stats.sh"
if [ "$overhead" = "nan" ]; then
    echo "bench-stats: FAIL: no measurement (did wrk reach lb?)" >&2
    exit 1
fi
if awk -v o="$overhead" -v l="$limit" 'BEGIN { exit !(o < l) }'; then
    echo "bench-stats: ok: statistics cost less than ${limit}% of lb's throughput"
    exit 0
fi
if [ -n "$perf_share" ] && awk -v p="$perf_share" -v l="$limit" 'BEGIN { exit !(p >= l) }'; then
    echo "bench-stats: FAIL: perf finds ${perf_share}% of lb's CPU in the statistics" >&2
    exit 1
fi
if awk -v o="$overhead" -v s="$spread" 'BEGIN { exit !(s > o) }'; then
    echo "bench-stats: INCONCLUSIVE: the machine's noise (${spread}%) exceeds the difference" \
         "(${overhead}%); run again on a quiet machine, e.g. ROUNDS=9 DURATION=10 $0 $bin" >&2
    exit 0
fi
echo "bench-stats: FAIL: statistics cost ${overhead}% of lb's throughput" >&2
exit 1
