#!/usr/bin/env bash
# compare-lb.sh - two lb binaries side by side (before and after a change), in one run.
#
# Usage: scripts/compare-lb.sh OLD_LB NEW_LB
#   Environment: ROUNDS (5), SECONDS_PER_RUN (4), CONNS (50), WORKERS (1: lb -w).
#
# Three nginx static backends serve a 1 KiB file (so the backends are never the bottleneck);
# each lb runs round robin over them on a free loopback port. wrk measures the two lbs in
# alternating order, round after round, and the medians are printed: on a shared machine single
# runs swing by up to a quarter, interleaved medians much less. Everything started is stopped by
# PID; the temporary directory is removed at the end.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

old="${1:-}"; new="${2:-}"
rounds="${ROUNDS:-5}"; secs="${SECONDS_PER_RUN:-4}"; conns="${CONNS:-50}"; workers="${WORKERS:-1}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$old" ] && [ -x "$new" ] || die "usage: $0 OLD_LB NEW_LB (two lb executables)"
need_tools wrk nginx curl

make_temp_dir
free_port b1 b2 b3 p_old p_new
mkdir -p "$tmp/nginx/www"
chmod a+rx "$tmp" "$tmp/nginx" "$tmp/nginx/www" # nginx workers run as an unprivileged user
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/nginx/www/1k"
{
    nginx_conf_start "$tmp/nginx" 1
    cat <<EOF
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$b1; listen 127.0.0.1:$b2; listen 127.0.0.1:$b3; root $tmp/nginx/www; }
}
EOF
} >"$tmp/nginx/nginx.conf"
nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx.log" 2>&1 &
ngx_pid=$!
pids+=("$ngx_pid")
wait_port "$b1" "$ngx_pid" || die "nginx did not start: $(cat "$tmp/nginx/error.log")"

"$old" -l "127.0.0.1:$p_old" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" \
    --no-stats >"$tmp/old.log" 2>&1 &
pids+=("$!"); wait_port "$p_old" "$!" || die "old lb did not start: $(cat "$tmp/old.log")"
"$new" -l "127.0.0.1:$p_new" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" \
    --no-stats >"$tmp/new.log" 2>&1 &
pids+=("$!"); wait_port "$p_new" "$!" || die "new lb did not start: $(cat "$tmp/new.log")"
for p in "$p_old" "$p_new"; do
    code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$p/1k")
    [ "$code" = 200 ] || die "lb on $p answers $code to GET /1k: $(tail -3 "$tmp"/*.log "$tmp/nginx/error.log" 2>/dev/null)"
done

rps() { wrk -t1 -c"$conns" -d"${secs}s" "$@" 2>&1 | awk '/^Requests\/sec:/ { print $2 }'; }

echo "compare-lb: $rounds interleaved rounds of ${secs}s, wrk -t1 -c$conns, lb -w $workers, nginx static 1 KiB backends"
for mode in keep-alive close; do
    extra=(); [ "$mode" = close ] && extra=(-H "Connection: close")
    : >"$tmp/old.$mode"; : >"$tmp/new.$mode"
    for r in $(seq "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
        for which in $order; do
            port=$p_old; [ "$which" = new ] && port=$p_new
            rps "${extra[@]}" "http://127.0.0.1:$port/1k" >>"$tmp/$which.$mode"
        done
    done
    mo=$(median <"$tmp/old.$mode"); mn=$(median <"$tmp/new.$mode")
    printf '%-11s old %10s r/s   new %10s r/s   new/old %s   (old runs: %s; new runs: %s)\n' "$mode" "$mo" "$mn" \
        "$(awk -v a="$mn" -v b="$mo" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "?" }')" \
        "$(tr '\n' ' ' <"$tmp/old.$mode")" "$(tr '\n' ' ' <"$tmp/new.$mode")"
done
