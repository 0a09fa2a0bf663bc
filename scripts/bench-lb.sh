#!/usr/bin/env bash
# bench-lb.sh - throughput and latency of lb next to HAProxy and nginx, configured alike.
#
# Usage: scripts/bench-lb.sh BIN_DIR
#   Environment: BENCH_SECONDS (default 5), BENCH_CONNS (50), BENCH_THREADS (2, wrk threads),
#                BENCH_WORKERS (2: lb -w, haproxy nbthread, nginx worker_processes),
#                BENCH_PATH (/whoami).
#
# One backend-sim process serves three backends on free ports. lb, HAProxy and nginx each run as
# a round-robin HTTP proxy over them with keep-alive to the backends, on free loopback ports, with
# the same number of workers. wrk runs against each (and against one backend directly, as the
# ceiling) for a few seconds with keep-alive, then again with "Connection: close"; the results are
# printed side by side. Configs and logs live in a temporary directory removed at the end; every
# process is stopped by its PID. Numbers from a shared 2-core machine are only comparable within
# one run.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

bin="${1:-bin}"
seconds="${BENCH_SECONDS:-5}"
conns="${BENCH_CONNS:-50}"
threads="${BENCH_THREADS:-2}"
workers="${BENCH_WORKERS:-2}"
path="${BENCH_PATH:-/whoami}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$bin/lb" ] || die "no $bin/lb (run make first)"
[ -x "$bin/backend-sim" ] || die "no $bin/backend-sim (run make first)"
need_tools wrk haproxy nginx curl

make_temp_dir
free_port b1 b2 b3 lb_port hap_port ngx_port

"$bin/backend-sim" -p "127.0.0.1:$b1" -p "127.0.0.1:$b2" -p "127.0.0.1:$b3" \
    >"$tmp/backend-sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
for p in "$b1" "$b2" "$b3"; do
    wait_port "$p" "$sim_pid" || die "backend-sim did not start (see its log: $(cat "$tmp/backend-sim.log"))"
done

"$bin/lb" -l "127.0.0.1:$lb_port" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" \
    -w "$workers" >"$tmp/lb.log" 2>&1 &
lb_pid=$!
pids+=("$lb_pid")

cat >"$tmp/haproxy.cfg" <<EOF
global
    nbthread $workers
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

mkdir -p "$tmp/nginx"
{
    nginx_conf_start "$tmp/nginx" "$workers"
    cat <<EOF
    upstream be {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        server 127.0.0.1:$b3;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$ngx_port;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
} >"$tmp/nginx/nginx.conf"
nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx.log" 2>&1 &
ngx_pid=$!
pids+=("$ngx_pid")

wait_port "$lb_port" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.log")"
wait_port "$hap_port" "$hap_pid" || die "haproxy did not start: $(cat "$tmp/haproxy.log")"
wait_port "$ngx_port" "$ngx_pid" || die "nginx did not start: $(cat "$tmp/nginx/error.log" "$tmp/nginx.log" 2>/dev/null)"

# Each proxy answers through the backends before it is measured.
for port in "$lb_port" "$hap_port" "$ngx_port"; do
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path")
    [ "$code" = 200 ] || die "127.0.0.1:$port$path answered '$code', not 200"
done

# Runs wrk; prints "requests/s avg-latency p99-latency errors".
measure() {
    local url="$1"; shift
    local out rps avg p99 errs
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency "$@" "$url" 2>&1)
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    avg=$(awk '$1 == "Latency" { print $2; exit }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2; exit }' <<<"$out")
    errs=$(wrk_errors <<<"$out")
    echo "${rps:-?} ${avg:-?} ${p99:-?} ${errs:-0}"
}

echo "lblab bench: wrk -t$threads -c$conns -d${seconds}s GET $path; $workers workers each; backends on :$b1 :$b2 :$b3"
printf '\n%-22s %14s %12s %12s %12s %14s %12s %12s %12s\n' "" \
    "keep-alive r/s" "avg" "p99" "errors" "close r/s" "avg" "p99" "errors"
declare -A keep_rps close_rps
for row in "backend (direct):$b1" "lb:$lb_port" "haproxy:$hap_port" "nginx:$ngx_port"; do
    name="${row%:*}"
    port="${row##*:}"
    read -r k_rps k_avg k_p99 k_err < <(measure "http://127.0.0.1:$port$path")
    read -r c_rps c_avg c_p99 c_err < <(measure "http://127.0.0.1:$port$path" -H "Connection: close")
    keep_rps[$name]=$k_rps
    close_rps[$name]=$c_rps
    printf '%-22s %14s %12s %12s %12s %14s %12s %12s %12s\n' "$name" \
        "$k_rps" "$k_avg" "$k_p99" "$k_err" "$c_rps" "$c_avg" "$c_p99" "$c_err"
done

echo
for other in haproxy nginx; do
    printf 'lb / %-8s requests/s: keep-alive %s, Connection: close %s\n' "$other" \
        "$(ratio "${keep_rps[lb]}" "${keep_rps[$other]}")" "$(ratio "${close_rps[lb]}" "${close_rps[$other]}")"
done

kill -0 "$lb_pid" 2>/dev/null || die "lb died during the benchmark: $(tail -5 "$tmp/lb.log")"
echo
echo "(errors: socket errors plus non-2xx/3xx responses, as wrk counts them)"
