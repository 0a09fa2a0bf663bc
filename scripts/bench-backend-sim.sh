#!/usr/bin/env bash
# bench-backend-sim.sh - is backend-sim fast enough never to be a benchmark's bottleneck?
# Serves a small static file with nginx (one worker) and /whoami with backend-sim (one instance,
# one thread), both on free loopback ports, measures each with the same wrk run (keep-alive),
# and prints both request rates and their ratio. The goal (issue 3) is a ratio of at least 0.80.
# The machine is shared, so the two are measured in alternation, ROUNDS times, and the best rate
# of each is compared (interference only ever lowers a rate).
# Usage: scripts/bench-backend-sim.sh [BIN_DIR]   (env: DURATION=3 ROUNDS=3 CONNS=50 THREADS=1)
# Every process it starts is stopped by its PID; nothing is left running.
set -uo pipefail

bin="${1:-bin}"
duration="${DURATION:-3}"
rounds="${ROUNDS:-3}"
conns="${CONNS:-50}"
threads="${THREADS:-1}"

for tool in wrk nginx; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        echo "bench-backend-sim: $tool is not installed (scripts/deps.sh bench installs it)" >&2
        exit 1
    fi
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
if [ ! -x "$bin/backend-sim" ]; then
    echo "bench-backend-sim: $bin/backend-sim not found; run make first" >&2
    exit 1
fi

free_port() {
    python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

wait_port() {
    local port="$1"
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

nginx_port="$(free_port)"
sim_port="$(free_port)"
while [ "$sim_port" = "$nginx_port" ]; do sim_port="$(free_port)"; done

mkdir -p "$tmp/www" "$tmp/logs"
# about the size of a /whoami answer
printf 'Name: nginx\nPort: %s\nThis is a small static file served by nginx for comparison.\n' \
    "$nginx_port" > "$tmp/www/index.txt"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/www;
        location / { default_type text/plain; }
    }
}
CONF

"$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/logs/nginx.stderr" &
pids+=($!)
"$bin/backend-sim" -p "127.0.0.1:$sim_port" 2>"$tmp/logs/sim.stderr" &
pids+=($!)

if ! wait_port "$nginx_port"; then
    echo "bench-backend-sim: nginx did not start:" >&2
    cat "$tmp/logs/nginx.stderr" "$tmp/logs/error.log" >&2 2>/dev/null
    exit 1
fi
if ! wait_port "$sim_port"; then
    echo "bench-backend-sim: backend-sim did not start:" >&2
    cat "$tmp/logs/sim.stderr" >&2
    exit 1
fi

rate() { # URL -> requests per second (wrk's Requests/sec line)
    wrk -t "$threads" -c "$conns" -d "${duration}s" "$1" 2>&1 | tee -a "$tmp/wrk.out" |
        awk '/^Requests\/sec:/ { print $2 }'
}

# a short warm-up of both, then the measured runs
wrk -t 1 -c 4 -d 1s "http://127.0.0.1:$nginx_port/index.txt" >/dev/null 2>&1
wrk -t 1 -c 4 -d 1s "http://127.0.0.1:$sim_port/whoami" >/dev/null 2>&1
nginx_rps=""
sim_rps=""
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'; }
for _ in $(seq 1 "$rounds"); do
    nginx_rps="$(best "$nginx_rps" "$(rate "http://127.0.0.1:$nginx_port/index.txt")")"
    sim_rps="$(best "$sim_rps" "$(rate "http://127.0.0.1:$sim_port/whoami")")"
done

if [ -z "$nginx_rps" ] || [ -z "$sim_rps" ]; then
    echo "bench-backend-sim: wrk did not report a rate:" >&2
    cat "$tmp/wrk.out" >&2
    exit 1
fi
ratio="$(awk -v a="$sim_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')"
echo "backend-sim benchmark: wrk -t $threads -c $conns -d ${duration}s, keep-alive, loopback," \
    "best of $rounds alternating rounds"
printf '  nginx (1 worker), small static file: %12.0f requests/s\n' "$nginx_rps"
printf '  backend-sim (1 instance), /whoami:   %12.0f requests/s\n' "$sim_rps"
echo "  ratio backend-sim / nginx: $ratio (goal: >= 0.80)"
if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.80) }'; then
    echo "  PASS"
else
    echo "  BELOW GOAL (a loaded machine skews this; rerun when it is idle)"
fi
