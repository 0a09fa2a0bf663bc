#!/usr/bin/env bash
# bench-admin.sh - what lb's admin endpoint costs the traffic it serves: lb with one worker (the
# one that also serves --admin) and 64 backends (two backend-sims, each named 32 times, so
# /metrics is at its largest, about 750 KB), wrk through it with and without a client scraping
# GET /metrics every SCRAPE_MS meanwhile, runs alternating (and which goes first). Prints the
# size and time of a scrape, and the medians of requests per second and of wrk's 99th
# percentile latency with and without scraping. Fails only when something broke (a scrape not
# 200, wrk errors); the numbers are for reading (two shared cores are too noisy for a limit).
#
# Usage: scripts/bench-admin.sh [BIN_DIR]     (default bin; run by `make bench`)
# Environment: DURATION (seconds per run, default BENCH_SECONDS or 4), ROUNDS (default 3),
# CONNS (default 32), SCRAPE_MS (default 100).
# Uses free loopback ports (10000 and up, below the ephemeral range, never 3000-3003); stops what
# it started by PID.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -euo pipefail

bin="${1:-bin}"
duration="${DURATION:-${BENCH_SECONDS:-4}}"
rounds="${ROUNDS:-3}"
conns="${CONNS:-32}"
scrape_ms="${SCRAPE_MS:-100}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for p in "$bin/lb" "$bin/backend-sim"; do
    [ -x "$p" ] || die "$p is missing (run make first)"
done
need_tools wrk curl

make_temp_dir
free_port b1 b2 lb_port admin_port
"$bin/backend-sim" -p "127.0.0.1:$b1" -p "127.0.0.1:$b2" >"$tmp/backend-sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
for p in "$b1" "$b2"; do
    wait_port "$p" "$sim_pid" || die "backend-sim did not start: $(cat "$tmp/backend-sim.log")"
done
backends=()
for _ in $(seq 32); do backends+=(-b "127.0.0.1:$b1" -b "127.0.0.1:$b2"); done
"$bin/lb" -l "127.0.0.1:$lb_port" "${backends[@]}" -w 1 --admin "127.0.0.1:$admin_port" \
    >"$tmp/lb.log" 2>&1 &
lb_pid=$!
pids+=("$lb_pid")
wait_port "$lb_port" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.log")"
wait_port "$admin_port" "$lb_pid" || die "lb's admin endpoint did not start: $(cat "$tmp/lb.log")"

# One scrape: prints "HTTP_CODE BYTES SECONDS".
scrape() {
    curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' \
        "http://127.0.0.1:$admin_port/metrics"
}

# Scrapes every scrape_ms until killed, one line per scrape into $1.
scraper() {
    while :; do
        scrape >>"$1"
        sleep "$(awk -v ms="$scrape_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    done
}

# One wrk run, with a scraper beside it when $1 is "scraping". Sets m_rps, m_p99 (ms).
measure() {
    local out scr_pid=""
    if [ "$1" = scraping ]; then
        scraper "$tmp/scrapes" &
        scr_pid=$!
        pids+=("$scr_pid")
    fi
    out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$lb_port/whoami" \
        2>/dev/null || true)
    if [ -n "$scr_pid" ]; then stop_pid "$scr_pid"; fi
    [ "$(wrk_errors <<<"$out")" = 0 ] || die "wrk saw errors: $out"
    m_rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    m_p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub("us", "", v); v /= 1000 }
                               else if (v ~ /ms$/) sub("ms", "", v);
                               else if (v ~ /s$/) { sub("s", "", v); v *= 1000 }
                               print v }' <<<"$out")
    if [ -z "$m_rps" ] || [ -z "$m_p99" ]; then
        die "no measurement (did wrk reach lb?): $out"
    fi
}

: >"$tmp/scrapes"
first=$(scrape)
read -r code bytes _ <<<"$first"
[ "$code" = 200 ] || die "GET /metrics answered $code"
quiet_rps=() quiet_p99=() busy_rps=() busy_p99=()
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then
        measure quiet; q_rps=$m_rps q_p99=$m_p99
        measure scraping; s_rps=$m_rps s_p99=$m_p99
    else
        measure scraping; s_rps=$m_rps s_p99=$m_p99
        measure quiet; q_rps=$m_rps q_p99=$m_p99
    fi
    quiet_rps+=("$q_rps") quiet_p99+=("$q_p99") busy_rps+=("$s_rps") busy_p99+=("$s_p99")
    printf 'bench-admin: round %d/%d: no scrapes %9.0f req/s p99 %7.2f ms   scraping %9.0f req/s p99 %7.2f ms\n' \
        "$r" "$rounds" "$q_rps" "$q_p99" "$s_rps" "$s_p99"
done

bad=$(awk '$1 != 200' "$tmp/scrapes" | wc -l)
n=$(wc -l <"$tmp/scrapes")
[ "$bad" -eq 0 ] || die "$bad of $n scrapes were not answered 200"
scrape_ms_median=$(awk '{ print $3 * 1000 }' "$tmp/scrapes" | median)
echo "GET /metrics with 64 backends: $bytes bytes; $n scrapes during the runs, median $scrape_ms_median ms each (curl)"
echo "no scrapes:             $(printf '%s\n' "${quiet_rps[@]}" | median) req/s, p99 $(printf '%s\n' "${quiet_p99[@]}" | median) ms (median of $rounds runs of ${duration}s, $conns connections, 1 worker)"
echo "scraping every ${scrape_ms} ms: $(printf '%s\n' "${busy_rps[@]}" | median) req/s, p99 $(printf '%s\n' "${busy_p99[@]}" | median) ms"
