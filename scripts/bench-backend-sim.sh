#!/usr/bin/env bash
# bench-backend-sim.sh - is backend-sim fast enough never to be a benchmark's bottleneck?
# Serves a small static file with nginx (one worker) and /whoami with backend-sim (one instance,
# one thread), both on free loopback ports, measures each with the same wrk run (keep-alive),
# and prints both request rates and their ratio. The goal (issue 3) is a ratio of at least 0.80.
# The machine is shared, so the two are measured in alternation, ROUNDS times, and the best rate
# of each is compared (interference only ever lowers a rate).
# Usage: scripts/bench-backend-sim.sh [BIN_DIR]   (env: DURATION=3 ROUNDS=3 CONNS=50 THREADS=1)
# Every process it starts is stopped by its PID; nothing is left running.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"


bin="${1:-bin}"
duration="${DURATION:-3}"
rounds="${ROUNDS:-3}"
conns="${CONNS:-50}"
threads="${THREADS:-1}"

for tool in wrk nginx; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        die "$tool is not installed (scripts/deps.sh bench installs it)"
    fi
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$bin/backend-sim" ] || die "$bin/backend-sim not found; run make first"

make_temp_dir
free_port nginx_port sim_port

mkdir -p "$tmp/www" "$tmp/logs"
# about the size of a /whoami answer
printf 'Name: nginx\nPort: %s\nThis is a small static file served by nginx for comparison.\n' \
    "$nginx_port" > "$tmp/www/index.txt"
{
    echo "master_process off;"
    nginx_conf_start "$tmp" 1
    cat <<CONF
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/www;
        location / { default_type text/plain; }
    }
}
CONF
} > "$tmp/nginx.conf"

"$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/logs/nginx.stderr" &
nginx_pid=$!
pids+=("$nginx_pid")
"$bin/backend-sim" -p "127.0.0.1:$sim_port" 2>"$tmp/logs/sim.stderr" &
sim_pid=$!
pids+=("$sim_pid")

wait_port "$nginx_port" "$nginx_pid" ||
    die "nginx did not start: $(cat "$tmp/logs/nginx.stderr" "$tmp/error.log" 2>/dev/null)"
wait_port "$sim_port" "$sim_pid" || die "backend-sim did not start: $(cat "$tmp/logs/sim.stderr")"

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
    die "wrk did not report a rate: $(cat "$tmp/wrk.out")"
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
