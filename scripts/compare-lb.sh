#!/usr/bin/env bash
# compare-lb.sh - two lb binaries side by side (before and after a change), in one run.
#
# Usage: scripts/compare-lb.sh OLD_LB NEW_LB
#   Environment: ROUNDS (5), SECONDS_PER_RUN (4), CONNS (50), WORKERS (1: lb -w),
#                STATS (off: both run with --no-stats; on: with statistics, as lb ships),
#                BACKEND_WORKERS (1: nginx worker processes of the backends),
#                MODES ("keep-alive close": which client kinds to measure),
#                SIZE_KIB (1: the size of the response the backends serve, in KiB).
#
# To compare lb with itself under two settings, give two small wrapper scripts that exec the same
# lb with different flags (the last flag given wins): `exec bin/lb "$@" -w 2`.
#
# Three nginx static backends serve a 1 KiB file (so the backends are never the bottleneck);
# each lb runs round robin over them on a free loopback port. wrk measures the two lbs in
# alternating order, round after round, and the medians are printed: on a shared machine single
# runs swing by up to a quarter, interleaved medians much less. Besides requests/s it prints each
# lb's CPU time per request (from /proc/PID/stat), which other load on the machine moves much
# less. Everything started is stopped by PID; the temporary directory is removed at the end.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

old="${1:-}"; new="${2:-}"
stats_flag=(--no-stats)
case "${STATS:-off}" in on) stats_flag=() ;; off) ;; *) echo "compare-lb: STATS is on or off, not '$STATS'" >&2; exit 2 ;; esac
rounds="${ROUNDS:-5}"; secs="${SECONDS_PER_RUN:-4}"; conns="${CONNS:-50}"; workers="${WORKERS:-1}"
backend_workers="${BACKEND_WORKERS:-1}"; modes="${MODES:-keep-alive close}"; size_kib="${SIZE_KIB:-1}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$old" ] && [ -x "$new" ] || die "usage: $0 OLD_LB NEW_LB (two lb executables)"
[[ "$size_kib" =~ ^[1-9][0-9]*$ ]] || die "SIZE_KIB must be a positive integer, not '$size_kib'"
need_tools wrk nginx curl

make_temp_dir
free_port b1 b2 b3 p_old p_new
mkdir -p "$tmp/nginx/www"
chmod a+rx "$tmp" "$tmp/nginx" "$tmp/nginx/www" # nginx workers run as an unprivileged user
head -c $((size_kib * 1024)) /dev/zero | tr '\0' 'x' >"$tmp/nginx/www/body"
start_static_backends "$tmp/nginx" "$backend_workers" 0 "$tmp/nginx/www" "$b1" "$b2" "$b3"

"$old" -l "127.0.0.1:$p_old" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" \
    "${stats_flag[@]}" >"$tmp/old.log" 2>&1 &
pid_old=$!
pids+=("$pid_old"); wait_port "$p_old" "$pid_old" || die "old lb did not start: $(cat "$tmp/old.log")"
"$new" -l "127.0.0.1:$p_new" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" \
    "${stats_flag[@]}" >"$tmp/new.log" 2>&1 &
pid_new=$!
pids+=("$pid_new"); wait_port "$p_new" "$pid_new" || die "new lb did not start: $(cat "$tmp/new.log")"
for p in "$p_old" "$p_new"; do
    code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$p/body")
    [ "$code" = 200 ] || die "lb on $p answers $code to GET /body: $(tail -3 "$tmp"/*.log "$tmp/nginx/error.log" 2>/dev/null)"
done

# CPU ticks (user + system, all threads) process $1 used so far.
ticks_of() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# One run against lb process $1 (wrk arguments after it): appends its requests/s to $tmp/$2.rps and
# lb's CPU time per request in microseconds to $tmp/$2.cpu. CPU per request hardly moves when
# other work shares the machine; requests/s does.
run() {
    local pid=$1 which=$2 t0 t1 out n
    shift 2
    t0=$(ticks_of "$pid")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" "$@" 2>&1)
    t1=$(ticks_of "$pid")
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out" >>"$tmp/$which.rps"
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    awk -v t=$((t1 - t0)) -v hz="$hz" -v n="${n:-0}" \
        'BEGIN { if (n > 0) printf "%.2f\n", t * 1e6 / hz / n }' >>"$tmp/$which.cpu"
}

echo "compare-lb: $rounds interleaved rounds of ${secs}s, wrk -t1 -c$conns, lb -w $workers (statistics ${STATS:-off}), nginx static $size_kib KiB backends ($backend_workers worker(s))"
new_over_old() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "?" }'; }
for mode in $modes; do
    case "$mode" in keep-alive | close) ;; *) die "MODES lists keep-alive and close, not '$mode'" ;; esac
    extra=(); [ "$mode" = close ] && extra=(-H "Connection: close")
    for f in old.rps new.rps old.cpu new.cpu; do : >"$tmp/$f"; done
    for r in $(seq "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
        for which in $order; do
            port=$p_old pid=$pid_old
            if [ "$which" = new ]; then port=$p_new pid=$pid_new; fi
            run "$pid" "$which" "${extra[@]}" "http://127.0.0.1:$port/body"
        done
    done
    mo=$(median <"$tmp/old.rps"); mn=$(median <"$tmp/new.rps")
    co=$(median <"$tmp/old.cpu"); cn=$(median <"$tmp/new.cpu")
    printf '%-11s old %10s r/s %7s us CPU/req   new %10s r/s %7s us CPU/req   new/old: r/s %s, CPU/req %s\n' \
        "$mode" "$mo" "$co" "$mn" "$cn" "$(new_over_old "$mn" "$mo")" "$(new_over_old "$cn" "$co")"
    printf '            old runs: %s/ %s\n            new runs: %s/ %s\n' "$(tr '\n' ' ' <"$tmp/old.rps")" \
        "$(tr '\n' ' ' <"$tmp/old.cpu")" "$(tr '\n' ' ' <"$tmp/new.rps")" "$(tr '\n' ' ' <"$tmp/new.cpu")"
done
