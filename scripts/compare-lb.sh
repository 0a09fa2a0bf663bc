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
set -uo pipefail

old="${1:-}"; new="${2:-}"
rounds="${ROUNDS:-5}"; secs="${SECONDS_PER_RUN:-4}"; conns="${CONNS:-50}"; workers="${WORKERS:-1}"

die() { echo "compare-lb: $*" >&2; exit 1; }
[ -x "$old" ] && [ -x "$new" ] || die "usage: $0 OLD_LB NEW_LB (two lb executables)"
for tool in wrk nginx curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/deps.sh bench)"
done

tmp="$(mktemp -d /tmp/lblab-compare.XXXXXX)" || die "mktemp failed"
pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

used=" "
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((10000 + RANDOM % 20000))
        case "$used" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            used="$used$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}
wait_port() {
    for _ in $(seq 150); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

b1=$(free_port); b2=$(free_port); b3=$(free_port); p_old=$(free_port); p_new=$(free_port)
mkdir -p "$tmp/nginx/www"
chmod a+rx "$tmp" "$tmp/nginx" "$tmp/nginx/www" # nginx workers run as an unprivileged user
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/nginx/www/1k"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server { listen 127.0.0.1:$b1; listen 127.0.0.1:$b2; listen 127.0.0.1:$b3; root $tmp/nginx/www; }
}
EOF
nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx.log" 2>&1 &
pids+=($!)
wait_port "$b1" "${pids[0]}" || die "nginx did not start: $(cat "$tmp/nginx/error.log")"

"$old" -l "127.0.0.1:$p_old" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" \
    --no-stats >"$tmp/old.log" 2>&1 &
pids+=($!); wait_port "$p_old" $! || die "old lb did not start: $(cat "$tmp/old.log")"
"$new" -l "127.0.0.1:$p_new" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" \
    --no-stats >"$tmp/new.log" 2>&1 &
pids+=($!); wait_port "$p_new" $! || die "new lb did not start: $(cat "$tmp/new.log")"
for p in "$p_old" "$p_new"; do
    code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$p/1k")
    [ "$code" = 200 ] || die "lb on $p answers $code to GET /1k: $(tail -3 "$tmp"/*.log "$tmp/nginx/error.log" 2>/dev/null)"
done

rps() { wrk -t1 -c"$conns" -d"${secs}s" "$@" 2>&1 | awk '/^Requests\/sec:/ { print $2 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

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
