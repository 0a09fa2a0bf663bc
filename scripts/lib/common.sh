# shellcheck shell=bash
# common.sh - what the scripts in scripts/ share: failing with a message, a private temporary
# directory, stopping every process they started by its PID, and loopback ports to listen on.
# Sourced, never run (and not named bench-*.sh: `make bench` runs every scripts/bench-*.sh):
#     . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# It works under `set -euo pipefail`. Sourcing it sets two traps: stop_all on EXIT, and `exit 130`
# on SIGINT and SIGTERM (so that stop_all runs then too). A script may replace the INT/TERM trap
# after sourcing; it keeps stop_all on EXIT.
#
#   script_name        the prefix of die's messages; set it before sourcing to change it
#                      (default: the script's file name without .sh)
#   pids               the PIDs stop_all stops; a script adds each process it starts in the
#                      background:  "$bin/lb" -l "127.0.0.1:$port" ... &  pids+=("$!")
#   tmp                the directory make_temp_dir made, or empty
#   die MESSAGE...     prints "script_name: MESSAGE..." on standard error and exits with status 1
#   make_temp_dir      creates a private directory /tmp/lblab-<script_name>.XXXXXX for configs and
#                      logs and sets tmp to it; stop_all removes it
#   stop_pid PID       stops one process this shell started: SIGTERM, up to 5 s for it to exit,
#                      then SIGKILL; reaps it and takes it out of pids
#   wait_pid PID       waits as long as it takes for one process this shell started to exit by
#                      itself; reaps it and takes it out of pids
#   stop_all           what the EXIT trap runs: SIGTERM to every PID in pids at once, then for each
#                      up to 5 s, then SIGKILL; reaps them all, empties pids and removes tmp.
#                      SIGINT and SIGTERM are ignored meanwhile, so a second Ctrl-C cannot leave a
#                      process running
#   free_port VAR...   sets each VAR to a TCP port that no socket on this machine uses (listening,
#                      connected, or in TIME_WAIT, where a listener could not bind it), below the
#                      kernel's ephemeral range (so no outgoing connection takes it meanwhile), at
#                      least 10000 (so never 3000-3003), and not handed out before by this shell
#                      (a subshell's picks are not seen by its parent); dies when it finds none
#   wait_port PORT PID returns 0 as soon as 127.0.0.1:PORT accepts a connection, 1 when process
#                      PID exits first or after 15 s
#   need_tools CMD...  dies naming the first CMD that is not installed (scripts/deps.sh bench)
#   wrk_errors         reads wrk's output on standard input, prints its errors: socket errors plus
#                      non-2xx/3xx responses
#   median             reads numbers, one a line, prints their median (even count: the mean of the
#                      middle two, with two decimals)
#   ratio A B          prints A / B with two decimals, or ? when either is not positive
#   cpu_ticks PID...   prints the CPU time (user + system, in clock ticks: getconf CLK_TCK) the
#                      processes have used so far, their threads included (0 for one that is gone)
#   cpu_us_per A B HZ RATE SECONDS
#                      prints the microseconds of CPU per item (one decimal) when the ticks went
#                      from A to B while items (requests, connections) were served at RATE per
#                      second for SECONDS
#   bench_row SECTION LABEL UNIT BETTER LB HAPROXY NGINX
#                      appends one row of `make bench`'s table to the file LBLAB_BENCH_ROWS
#                      (when set), tab-separated, for scripts/report-bench.sh: SECTION groups rows
#                      (http, scaling, l4, tls, memory), BETTER is "more" or "less" (which way
#                      is better), the three values are numbers or ? (not measured)
#   bench_note TEXT    appends a note printed under `make bench`'s table (same file)
#   nginx_conf_start DIR WORKERS
#                      prints the start of an nginx.conf for an nginx this script runs in the
#                      foreground (daemon off) with WORKERS worker processes, everything it writes
#                      in DIR (nginx.pid, error.log, temporary files) and no access log. It ends
#                      inside "http {": the caller adds its servers and the closing "}"
# Every process the scripts start listens on 127.0.0.1 only: lb -l 127.0.0.1:PORT, backend-sim
# -p 127.0.0.1:PORT, `listen 127.0.0.1:PORT` or `bind 127.0.0.1:PORT` in nginx and HAProxy configs.
# Names starting with lib_ are this file's own.

script_name="${script_name:-$(basename "$0" .sh)}"
pids=()
tmp=""

die()
{
    echo "$script_name: $*" >&2
    exit 1
}

make_temp_dir()
{
    tmp="$(mktemp -d "/tmp/lblab-$script_name.XXXXXX")" || die "mktemp failed"
}

# Waits up to 5 s for process $1 to exit, then kills it; reaps it either way.
lib_reap()
{
    local _
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Takes $1 out of pids.
lib_forget()
{
    local rest=() p
    for p in "${pids[@]}"; do
        if [ "$p" != "$1" ]; then rest+=("$p"); fi
    done
    pids=("${rest[@]}")
}

stop_pid()
{
    kill -TERM "$1" 2>/dev/null || true
    lib_reap "$1"
    lib_forget "$1"
}

wait_pid()
{
    wait "$1" 2>/dev/null || true
    lib_forget "$1"
}

stop_all()
{
    local p
    trap '' INT TERM
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do lib_reap "$p"; done
    pids=()
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
    tmp=""
}

trap stop_all EXIT
trap 'exit 130' INT TERM

read -r lib_eph_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lib_eph_low=32768
[ "$lib_eph_low" -gt 12000 ] 2>/dev/null || lib_eph_low=32768
lib_used_ports=" "

# Succeeds when some TCP socket on this machine has local port $1 (ss sees every state; without
# ss, only a listener on 127.0.0.1 is found, by connecting to it).
lib_port_in_use()
{
    if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; then
        return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port()
{
    local lib_var lib_port lib_try
    for lib_var in "$@"; do
        lib_port=""
        for lib_try in $(seq 200); do
            lib_port=$((10000 + RANDOM % (lib_eph_low - 10000)))
            case "$lib_used_ports" in *" $lib_port "*) lib_port=""; continue ;; esac
            if ! lib_port_in_use "$lib_port"; then break; fi
            lib_port=""
        done
        [ -n "$lib_port" ] || die "no free port found after $lib_try tries"
        lib_used_ports="$lib_used_ports$lib_port "
        printf -v "$lib_var" '%s' "$lib_port"
    done
}

wait_port()
{
    local _
    for _ in $(seq 150); do
        kill -0 "$2" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

nginx_conf_start()
{
    cat <<EOF
worker_processes $2;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

# start_static_backends DIR WORKERS NOFILE ROOT PORT...: one nginx with WORKERS workers serving
# the files under ROOT on each loopback PORT, keep-alive, backlog 4096 (lb's and HAProxy's; nginx's
# default 511 drops SYNs when thousands of clients make a proxy open backend connections at once),
# its configuration and logs in DIR; NOFILE, when not 0, is each worker's descriptor limit and
# connection count (4096 otherwise). Waits for every port; the pid goes into pids.
start_static_backends()
{
    local dir=$1 workers=$2 nofile=$3 root=$4 p pid listens=""
    shift 4
    for p in "$@"; do listens+="        listen 127.0.0.1:$p backlog=4096;"$'\n'; done
    mkdir -p "$dir" || die "mkdir $dir failed"
    {
        if [ "$nofile" -ne 0 ]; then
            echo "worker_rlimit_nofile $nofile;"
            nginx_conf_start "$dir" "$workers" | sed "s/worker_connections 4096/worker_connections $nofile/"
        else
            nginx_conf_start "$dir" "$workers"
        fi
        cat <<EOF
    keepalive_requests 1000000;
    server {
$listens        root $root;
        sendfile on;
        tcp_nopush on;
    }
}
EOF
    } >"$dir/nginx.conf"
    nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for p in "$@"; do
        wait_port "$p" "$pid" || die "the backends did not start: $(cat "$dir/error.log" "$dir/stdout.log" 2>/dev/null)"
    done
}

need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/deps.sh bench)"
    done
}

wrk_errors() {
    awk '/Socket errors:/ { gsub(",", ""); s += $4 + $6 + $8 + $10 }
         /Non-2xx or 3xx responses:/ { s += $5 }
         END { print s + 0 }'
}

median() {
    sort -g | awk '{ v[NR] = $1 }
                   END { if (NR % 2) print v[(NR + 1) / 2];
                         else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "?" }'
}

cpu_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

cpu_us_per() {
    awk -v t=$(($2 - $1)) -v hz="$3" -v r="$4" -v s="$5" \
        'BEGIN { printf "%.1f", (r * s > 0 ? t / hz * 1e6 / (r * s) : 0) }'
}

bench_row() {
    [ -n "${LBLAB_BENCH_ROWS:-}" ] || return 0
    [ $# -eq 7 ] || die "bench_row: 7 arguments expected, got $#: $*"
    local v out=""
    for v in "$@"; do out+="${v//$'\t'/ }"$'\t'; done
    printf '%s\n' "${out%$'\t'}" >>"$LBLAB_BENCH_ROWS" || die "cannot write $LBLAB_BENCH_ROWS"
}

bench_note() {
    [ -n "${LBLAB_BENCH_ROWS:-}" ] || return 0
    printf 'note\t%s\n' "${*//$'\t'/ }" >>"$LBLAB_BENCH_ROWS" || die "cannot write $LBLAB_BENCH_ROWS"
}
