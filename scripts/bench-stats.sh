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
# CONNS (default 32).
# Uses free ports above 20000, never 3000-3003; stops what it started by PID.
set -euo pipefail

bin="${1:-bin}"
duration="${DURATION:-${BENCH_SECONDS:-4}}"
rounds="${ROUNDS:-5}"
conns="${CONNS:-32}"
limit=3

for p in "$bin/lb" "$bin/backend-sim"; do
    [ -x "$p" ] || { echo "bench-stats: $p is missing (run make first)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench-stats: wrk is not installed (scripts/deps.sh bench)" >&2; exit 1; }

logs=$(mktemp -d /tmp/bench-stats.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$logs"
}
trap cleanup EXIT

# A port below the kernel's ephemeral range that no TCP socket uses, not even one in TIME_WAIT:
# after bench-lb.sh's Connection: close runs, tens of thousands of ephemeral ports are in
# TIME_WAIT, and a listener cannot bind one of them.
eph_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph_low" -gt 20100 ] 2>/dev/null || eph_low=32768
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % (eph_low - 20000)))
        if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    echo "bench-stats: no free port found" >&2
    return 1
}

# Waits until something accepts on port $1 while process $2 runs; says why not, with its log $3.
wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench-stats: nothing listens on port $1: $(cat "$3" 2>/dev/null)" >&2
    return 1
}

b1=$(free_port)
b2=$(free_port)
while [ "$b2" = "$b1" ]; do b2=$(free_port); done
"$bin/backend-sim" -p "$b1" -p "$b2" >"$logs/backend-sim.log" 2>&1 &
pids+=($!)
wait_port "$b1" "$!" "$logs/backend-sim.log"
wait_port "$b2" "$!" "$logs/backend-sim.log"

# One measurement: lb with the given extra flags, wrk against it. Prints "RPS CPU_US_PER_REQ":
# requests per second, and lb's CPU time (user + system) per request.
measure() {
    local port pid out rps n ticks hz
    port=$(free_port)
    "$bin/lb" -l "127.0.0.1:$port" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -w 1 "$@" \
        >"$logs/lb.log" 2>&1 &
    pid=$!
    wait_port "$port" "$pid" "$logs/lb.log"
    out=$(wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$port/whoami" 2>/dev/null || true)
    ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    hz=$(getconf CLK_TCK)
    awk -v r="${rps:-0}" -v n="${n:-0}" -v t="$ticks" -v hz="$hz" \
        'BEGIN { printf "%s %.2f\n", r, (n > 0 ? t * 1e6 / hz / n : 0) }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

on_rps=() off_rps=() on_cpu=() off_cpu=()
for r in $(seq 1 "$rounds"); do
    # Alternate which goes first, so a drift in the machine's load favours neither.
    if [ $((r % 2)) -eq 1 ]; then
        read -r orps ocpu < <(measure --no-stats)
        read -r nrps ncpu < <(measure)
    else
        read -r nrps ncpu < <(measure)
        read -r orps ocpu < <(measure --no-stats)
    fi
    on_rps+=("$nrps") off_rps+=("$orps") on_cpu+=("$ncpu") off_cpu+=("$ocpu")
    printf 'bench-stats: round %d/%d: statistics on %9.0f req/s (%6.2f us CPU/req)   off %9.0f req/s (%6.2f us CPU/req)\n' \
        "$r" "$rounds" "$nrps" "$ncpu" "$orps" "$ocpu"
done

# Where lb's CPU goes with statistics on, sampled by perf when the kernel lets us: the share of
# samples inside the statistics functions (their own time; memcpy/clock_gettime they call are
# counted with libc). Unlike requests per second, this is not moved by other load on the machine.
perf_share=""
if command -v perf >/dev/null 2>&1; then
    port=$(free_port)
    "$bin/lb" -l "127.0.0.1:$port" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -w 1 >"$logs/lb.log" 2>&1 &
    lbpid=$!
    wait_port "$port" "$lbpid" "$logs/lb.log"
    pdata=$(mktemp /tmp/bench-stats-perf.XXXXXX)
    wrk -t1 -c"$conns" -d"$((duration + 2))s" "http://127.0.0.1:$port/whoami" >/dev/null 2>&1 &
    wrkpid=$!
    sleep 1
    if timeout "$duration" perf record -q -F 2000 -p "$lbpid" -o "$pdata" >/dev/null 2>&1 ||
        [ -s "$pdata" ]; then
        perf_share=$(perf report -i "$pdata" --no-children --sort symbol --stdio 2>/dev/null |
            awk '$1 ~ /%$/ && $3 ~ /^stats_/ { sub("%", "", $1); s += $1 } END { printf "%.2f", s }')
    fi
    wait "$wrkpid" 2>/dev/null || true
    kill "$lbpid" 2>/dev/null || true
    wait "$lbpid" 2>/dev/null || true
    rm -f "$pdata"
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
[ -n "$perf_share" ] && echo "perf: ${perf_share}% of lb's CPU samples are in the statistics functions"
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
