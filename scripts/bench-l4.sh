#!/usr/bin/env bash
# bench-l4.sh - lb -m tcp (layer 4) next to HAProxy "mode tcp" and nginx "stream", configured alike.
#
# Usage: scripts/bench-l4.sh BIN_DIR
#   Environment: BENCH_SECONDS (default 5), BENCH_CONNS (50), BENCH_THREADS (2, wrk threads),
#                BENCH_WORKERS (2: lb -w, haproxy nbthread, nginx worker_processes),
#                BENCH_ROUNDS (5).
#
# One nginx with two workers (as in bench-lb.sh) serves two static files (1 KiB and 1 MiB) on
# three backend ports, so that the backends are never what limits. lb -m tcp, HAProxy (mode
# tcp, balance roundrobin) and nginx (stream module, an upstream of the three) each relay whole
# TCP connections to them, on free loopback ports, with the same number of workers. wrk fetches
# each file with keep-alive through each proxy (and from one backend directly, as the ceiling);
# a keep-alive connection stays on the backend it was relayed to, which is what layer 4 does.
# One round measures every target for each file, the targets in a rotating order; the table
# shows each cell's median over BENCH_ROUNDS rounds (single runs on a shared machine swing by a
# quarter), then lb's requests/s divided by the best peer's for each file, then each proxy's
# CPU time per request (its own cost: the requests/s also depend on what the load generator and
# the backends leave it of the shared cores). Configs and logs live in a temporary directory
# removed at the end; every process is stopped by its PID. Numbers are only comparable within
# one run.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

bin="${1:-bin}"
seconds="${BENCH_SECONDS:-5}"
conns="${BENCH_CONNS:-50}"
threads="${BENCH_THREADS:-2}"
workers="${BENCH_WORKERS:-2}"
rounds="${BENCH_ROUNDS:-5}"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$bin/lb" ] || die "no $bin/lb (run make first)"
need_tools wrk haproxy nginx curl
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, not '$rounds'"

# nginx's stream module: built in, or a dynamic module (Debian: libnginx-mod-stream) to load.
ngx_v=$(nginx -V 2>&1)
stream_load=""
case "$ngx_v" in
*--with-stream=dynamic*)
    for so in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
        if [ -f "$so" ]; then stream_load="load_module $so;"; break; fi
    done
    [ -n "$stream_load" ] || die "nginx has no stream module (libnginx-mod-stream; scripts/deps.sh bench)"
    ;;
*--with-stream\ * | *--with-stream) ;;
*) die "nginx was built without the stream module" ;;
esac

make_temp_dir
free_port b1 b2 b3 lb_port hap_port ngx_port

# The backends: static files from one nginx, on three ports.
mkdir -p "$tmp/www" "$tmp/backends" "$tmp/stream"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/www/1k"
head -c $((1024 * 1024)) /dev/zero | tr '\0' 'x' >"$tmp/www/1m"
# nginx's workers may run as another user (nobody, when started as root): they must read these.
if ! chmod 711 "$tmp" || ! chmod 755 "$tmp/www" || ! chmod 644 "$tmp/www/1k" "$tmp/www/1m"; then
    die "chmod failed"
fi
start_static_backends "$tmp/backends" 2 0 "$tmp/www" "$b1" "$b2" "$b3" # as bench-lb.sh: two workers, never the limit

"$bin/lb" -m tcp -l "127.0.0.1:$lb_port" -b "127.0.0.1:$b1" -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" \
    -w "$workers" --no-stats >"$tmp/lb.log" 2>&1 &
lb_pid=$!
pids+=("$lb_pid")

cat >"$tmp/haproxy.cfg" <<EOF
global
    nbthread $workers
    maxconn 4096
    log stderr format raw local0 emerg

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:$hap_port
    default_backend be

backend be
    balance roundrobin
    server b1 127.0.0.1:$b1
    server b2 127.0.0.1:$b2
    server b3 127.0.0.1:$b3
EOF
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
hap_pid=$!
pids+=("$hap_pid")

{
    echo "$stream_load"
    nginx_conf_start "$tmp/stream" "$workers"
    cat <<EOF
}
stream {
    upstream be {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        server 127.0.0.1:$b3;
    }
    server {
        listen 127.0.0.1:$ngx_port;
        proxy_pass be;
    }
}
EOF
} >"$tmp/stream/nginx.conf"
nginx -e "$tmp/stream/error.log" -p "$tmp/stream" -c "$tmp/stream/nginx.conf" >"$tmp/stream.log" 2>&1 &
ngx_pid=$!
pids+=("$ngx_pid")

wait_port "$lb_port" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.log")"
wait_port "$hap_port" "$hap_pid" || die "haproxy did not start: $(cat "$tmp/haproxy.log")"
wait_port "$ngx_port" "$ngx_pid" || die "nginx (stream) did not start: $(cat "$tmp/stream/error.log" "$tmp/stream.log" 2>/dev/null)"

# Each target serves both files whole before it is measured.
for port in "$b1" "$lb_port" "$hap_port" "$ngx_port"; do
    for f in 1k 1m; do
        size=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/$f")
        want="200 $(stat -c %s "$tmp/www/$f")"
        [ "$size" = "$want" ] || die "127.0.0.1:$port/$f answered '$size', not '$want'"
    done
done

# Runs wrk (bounded in time even if a target hangs); prints "requests/s errors".
measure() {
    local out rps errs
    out=$(timeout $((seconds + 30)) wrk -t"$threads" -c"$conns" -d"${seconds}s" "$1" 2>&1)
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    errs=$(wrk_errors <<<"$out")
    echo "${rps:-0} ${errs:-0}"
}


names=("backend (direct)" lb haproxy nginx)
ports=("$b1" "$lb_port" "$hap_port" "$ngx_port")
files=(1k 1m)
# The processes that do each proxy's work, for its CPU time per request: lb, HAProxy, the
# stream nginx's workers (none for the backend measured directly).
hz=$(getconf CLK_TCK)
mapfile -t ngx_workers < <(pgrep -P "$ngx_pid")
[ "${#ngx_workers[@]}" -gt 0 ] || die "nginx (stream) has no worker processes"
work_pids=("" "$lb_pid" "$hap_pid" "${ngx_workers[*]}")
declare -A samples errors cpu
echo "lblab L4 bench: wrk -t$threads -c$conns -d${seconds}s keep-alive GET /1k (1 KiB) and /1m (1 MiB);" \
    "$workers workers each; $rounds rounds in rotating order; backends (nginx static) on :$b1 :$b2 :$b3"
for ((r = 0; r < rounds; r++)); do
    for f in "${files[@]}"; do
        for ((k = 0; k < ${#names[@]}; k++)); do
            i=$(((k + r) % ${#names[@]}))
            # shellcheck disable=SC2086 # nginx's workers are several words
            t0=$(cpu_ticks ${work_pids[$i]})
            read -r rps errs < <(measure "http://127.0.0.1:${ports[$i]}/$f")
            # shellcheck disable=SC2086
            t1=$(cpu_ticks ${work_pids[$i]})
            samples[$i,$f]+=" $rps"
            errors[$i,$f]=$((${errors[$i,$f]:-0} + errs))
            cpu[$i,$f]+=" $(cpu_us_per "$t0" "$t1" "$hz" "$rps" "$seconds")"
        done
    done
    echo "round $((r + 1))/$rounds done"
    kill -0 "$lb_pid" 2>/dev/null || die "lb died during the benchmark: $(tail -5 "$tmp/lb.log")"
done

# MiB/s of a cell: requests/s times the file's size.
mib() { awk -v r="$1" -v f="$2" 'BEGIN { printf "%.1f", (f == "1m" ? r : r / 1024) }'; }
declare -A med
printf '\n%-18s %14s %10s %8s %14s %10s %8s\n' "median of $rounds" "1 KiB r/s" "MiB/s" "errors" "1 MiB r/s" "MiB/s" "errors"
for ((i = 0; i < ${#names[@]}; i++)); do
    line=$(printf '%-18s' "${names[$i]}")
    for f in "${files[@]}"; do
        # shellcheck disable=SC2086 # the samples are words
        med[$i,$f]=$(printf '%s\n' ${samples[$i,$f]} | median)
        line+=$(printf ' %14s %10s %8s' "${med[$i,$f]}" "$(mib "${med[$i,$f]}" "$f")" "${errors[$i,$f]}")
    done
    echo "$line"
done

echo
for f in "${files[@]}"; do
    best=2
    if awk -v a="${med[3,$f]}" -v b="${med[2,$f]}" 'BEGIN { exit !(a + 0 > b + 0) }'; then best=3; fi
    printf 'lb / best peer (%s) requests/s, %s: %s   (lb / haproxy %s, lb / nginx %s)\n' \
        "${names[$best]}" "$([ "$f" = 1k ] && echo "1 KiB" || echo "1 MiB")" \
        "$(ratio "${med[1,$f]}" "${med[$best,$f]}")" \
        "$(ratio "${med[1,$f]}" "${med[2,$f]}")" "$(ratio "${med[1,$f]}" "${med[3,$f]}")"
    bench_row l4 "$conns keep-alive clients, $([ "$f" = 1k ] && echo "1 KiB" || echo "1 MiB")" req/s more \
        "${med[1,$f]}" "${med[2,$f]}" "${med[3,$f]}"
done
# CPU per request: what each proxy spent relaying one exchange, whatever else ran meanwhile. Here
# the load generator, the backends and the proxy share the machine's cores, so requests/s measure
# the whole machine as much as the proxy; the proxy's own cost is this column.
echo
printf '%-18s %14s %14s\n' "CPU us/request" "1 KiB" "1 MiB"
declare -A cmed
for ((i = 1; i < ${#names[@]}; i++)); do
    line=$(printf '%-18s' "${names[$i]}")
    for f in "${files[@]}"; do
        # shellcheck disable=SC2086 # the samples are words
        cmed[$i,$f]=$(printf '%s\n' ${cpu[$i,$f]} | median)
        line+=$(printf ' %14s' "${cmed[$i,$f]}")
    done
    echo "$line"
done
for f in "${files[@]}"; do
    bench_row l4 "CPU per request, $([ "$f" = 1k ] && echo "1 KiB" || echo "1 MiB")" us less \
        "${cmed[1,$f]}" "${cmed[2,$f]}" "${cmed[3,$f]}"
done

echo
echo "(errors: socket errors plus non-2xx/3xx responses over all rounds, as wrk counts them;"
echo " samples per cell, requests/s:)"
for ((i = 0; i < ${#names[@]}; i++)); do
    printf '  %-18s 1 KiB:%s   1 MiB:%s\n' "${names[$i]}" "${samples[$i,1k]}" "${samples[$i,1m]}"
done
