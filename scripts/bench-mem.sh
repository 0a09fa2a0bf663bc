#!/usr/bin/env bash
# bench-mem.sh - what a client connection costs in memory: lb next to HAProxy and nginx, each
# with one worker in front of the same nginx static backends, with keep-alive to the backends.
#
# Usage: scripts/bench-mem.sh [BIN_DIR]      (default bin; run by `make bench`)
#   Environment: MEM_CONNS (connections held per row, default 10000), MEM_SETTLE (seconds a
#   proxy is left alone before its memory is read, default 3), LBLAB_BENCH_TOOLS (where
#   holdconns is, default build/bench; `make bench` builds it).
#
# The backends: an nginx serving a static 1 KiB file and a sparse 1 GiB file on three ports, and
# for the rows with a request body, a backend-sim on three other ports whose /echo reads the
# whole body before it answers (a backend answering early would make a proxy close the client
# connection, and rows would differ by what the backend did).
#
# lb runs with --no-defer-accept, like the peers here: by default it accepts a connection only
# when its first bytes arrive (or a second later), so the idle row would otherwise measure the
# kernel's queue of silent connections for lb and accepted ones for HAProxy and nginx.
# Rows, each measured on a freshly started proxy (resident memory from /proc/PID/status; for
# nginx, its one worker process), as bytes per connection over a baseline taken after a warm-up:
#   idle            MEM_CONNS connections opened and left idle, no request
#   after one GET   each sends one keep-alive GET (1 KiB answer), then idles
#   after a POST    each sends a 16,000-byte POST (echoed back), then idles
#   burst           MEM_CONNS clients send a GET all at once and read their answers: the peak
#                   per connection (VmHWM), then what is left MEM_SETTLE s after they all closed
#   1 GiB           a 1 GiB download and a 1 GiB upload (a PUT that the backend nginx stores
#                   whole before it answers) streamed through: the most the memory grew while
#                   it flowed
# MEM_CONNS is lowered to what HAProxy can take under the open-file limit (two descriptors each).
# lb's column is followed by its ratio to the best (lowest) of HAProxy and nginx. The targets of
# issue 14 are checked at the end (printed, never fatal: numbers from a shared machine).
# Everything listens on 127.0.0.1 on free ports; every process started is stopped by its PID;
# every wait is bounded.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

bin="${1:-bin}"
conns="${MEM_CONNS:-10000}"
settle="${MEM_SETTLE:-3}"
tools="${LBLAB_BENCH_TOOLS:-build/bench}"
holdconns="$tools/holdconns"

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$bin/lb" ] || die "no $bin/lb (run make first)"
[ -x "$bin/backend-sim" ] || die "no $bin/backend-sim (run make first)"
[ -x "$holdconns" ] || die "no $holdconns (make bench builds it; or set LBLAB_BENCH_TOOLS)"
need_tools haproxy nginx curl

# Every proxy holds a client and perhaps a backend connection per client: raise the limit of
# open files as far as this shell may (the processes started below inherit it).
want_fds=$((2 * conns + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want_fds" ]; then want_fds=$hard; fi
ulimit -n "$want_fds" || die "cannot raise the open-file limit to $want_fds"
# HAProxy reserves two descriptors per connection and refuses a maxconn beyond its limit; a proxy
# must accept every connection of a row (held ones are never given back): fewer connections then.
if [ $((2 * conns + 200)) -gt "$want_fds" ]; then
    conns=$(((want_fds - 200) / 2))
    echo "bench-mem: note: the open-file limit is $want_fds: $conns connections per row" >&2
fi

make_temp_dir
chmod a+rx "$tmp"
free_port b1 b2 b3 s1 s2 s3

# The static backends: one nginx serving three ports: /1k (1 KiB), /big (1 GiB, a sparse file),
# and /upload/, where a PUT is stored (its worker may run as another user: the directory is
# writable by all).
mkdir -p "$tmp/backend/www/upload"
chmod a+rx "$tmp/backend" "$tmp/backend/www"
chmod a+rwx "$tmp/backend/www/upload"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/backend/www/1k"
truncate -s 1G "$tmp/backend/www/big" || die "cannot create a sparse 1 GiB file in $tmp"
chmod a+r "$tmp/backend/www/1k" "$tmp/backend/www/big"
{
    echo "worker_rlimit_nofile $want_fds;"
    nginx_conf_start "$tmp/backend" 1 | sed "s/worker_connections 4096/worker_connections $((conns + 2000))/"
    cat <<EOF
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$b1; listen 127.0.0.1:$b2; listen 127.0.0.1:$b3;
        root $tmp/backend/www;
        location /upload/ { dav_methods PUT; }
    }
}
EOF
} >"$tmp/backend/nginx.conf"
nginx -e "$tmp/backend/error.log" -p "$tmp/backend" -c "$tmp/backend/nginx.conf" >"$tmp/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
wait_port "$b1" "$backend_pid" || die "the backend nginx did not start: $(cat "$tmp/backend/error.log")"
# The echoing backends (request bodies): backend-sim's /echo.
"$bin/backend-sim" -p "127.0.0.1:$s1" -p "127.0.0.1:$s2" -p "127.0.0.1:$s3" >"$tmp/backend-sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
for p in "$s1" "$s2" "$s3"; do
    wait_port "$p" "$sim_pid" || die "backend-sim did not start: $(cat "$tmp/backend-sim.log")"
done

# --- the three proxies, one worker each, round robin over the backends, keep-alive to them --------

# Starts proxy $1 on a free port in front of the static backends, or with $2 = echo of the
# echoing ones: sets port, proxy_pid (to stop) and mem_pid (whose memory counts).
start_proxy() {
    local p1=$b1 p2=$b2 p3=$b3
    if [ "${2:-}" = echo ]; then p1=$s1 p2=$s2 p3=$s3; fi
    free_port port
    case "$1" in
    lb)
        "$bin/lb" -l "127.0.0.1:$port" -b "127.0.0.1:$p1" -b "127.0.0.1:$p2" -b "127.0.0.1:$p3" \
            -w 1 --client-timeout 120000 --idle-timeout 120000 --server-timeout 120000 \
            --no-defer-accept \
            >"$tmp/lb.log" 2>&1 &
        proxy_pid=$!
        ;;
    haproxy)
        cat >"$tmp/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $conns
    log stderr format raw local0 emerg

defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
    timeout http-request 120s
    option http-keep-alive

frontend fe
    bind 127.0.0.1:$port
    default_backend be

backend be
    balance roundrobin
    http-reuse always
    server b1 127.0.0.1:$p1
    server b2 127.0.0.1:$p2
    server b3 127.0.0.1:$p3
EOF
        haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
        proxy_pid=$!
        ;;
    nginx)
        mkdir -p "$tmp/proxy"
        {
            echo "worker_rlimit_nofile $want_fds;"
            nginx_conf_start "$tmp/proxy" 1 | sed "s/worker_connections 4096/worker_connections $((2 * conns + 500))/"
            cat <<EOF
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_header_timeout 120s;
    client_max_body_size 0;
    upstream be {
        server 127.0.0.1:$p1; server 127.0.0.1:$p2; server 127.0.0.1:$p3;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
        }
    }
}
EOF
        } >"$tmp/proxy/nginx.conf"
        nginx -e "$tmp/proxy/error.log" -p "$tmp/proxy" -c "$tmp/proxy/nginx.conf" >"$tmp/nginx-proxy.log" 2>&1 &
        proxy_pid=$!
        ;;
    esac
    pids+=("$proxy_pid")
    wait_port "$port" "$proxy_pid" || die "$1 did not start: $(tail -3 "$tmp"/*.log "$tmp/proxy/error.log" 2>/dev/null)"
    mem_pid=$proxy_pid
    if [ "$1" = nginx ]; then
        local _
        mem_pid=""
        for _ in $(seq 50); do
            mem_pid=$(awk '{ print $1 }' "/proc/$proxy_pid/task/$proxy_pid/children" 2>/dev/null)
            [ -n "$mem_pid" ] && break
            sleep 0.1
        done
        [ -n "$mem_pid" ] || die "nginx's worker process did not show up"
    fi
    # warm up: a few requests, so that what every process allocates once is in the baseline
    if [ "${2:-}" = echo ]; then
        "$holdconns" -p "$port" -n 64 -m post -u /echo </dev/null >/dev/null || die "$1 does not answer POST /echo"
    else
        "$holdconns" -p "$port" -n 64 -m get -u /1k </dev/null >/dev/null || die "$1 does not answer GET /1k"
    fi
    sleep "$settle"
}

# Resident memory of process $1 in bytes; $2: VmRSS (default) or VmHWM (the peak).
mem_of() {
    awk -v k="${2:-VmRSS}:" '$1 == k { print $2 * 1024 }' "/proc/$1/status"
}

# Runs holdconns with the given arguments in the background, its standard input a FIFO this shell
# holds open; returns once it printed "ready" (sets held to the connections still open).
hold_start() {
    rm -f "$tmp/hold.in" "$tmp/hold.out"
    mkfifo "$tmp/hold.in"
    "$holdconns" -p "$port" "$@" <"$tmp/hold.in" >"$tmp/hold.out" 2>"$tmp/hold.err" &
    hold_pid=$!
    pids+=("$hold_pid")
    exec 7>"$tmp/hold.in"
    local _
    held=""
    for _ in $(seq 1200); do
        if grep -q '^ready' "$tmp/hold.out" 2>/dev/null; then
            held=$(awk '/^ready/ { print $2 }' "$tmp/hold.out")
            return 0
        fi
        kill -0 "$hold_pid" 2>/dev/null || break
        sleep 0.1
    done
    exec 7>&-
    stop_pid "$hold_pid"
    echo "bench-mem: holdconns $* failed: $(cat "$tmp/hold.err")" >&2
    return 1
}

# Ends holdconns: it closes its connections when its input ends.
hold_stop() {
    exec 7>&-
    local _
    for _ in $(seq 300); do kill -0 "$hold_pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$hold_pid"
}

# One idle row for proxy $1: bytes per connection with MEM_CONNS connections held after
# holdconns mode $2. Prints the number, or ? when it could not be measured.
idle_row() {
    local base now
    if [ "$2" = post ]; then start_proxy "$1" echo; else start_proxy "$1"; fi
    base=$(mem_of "$mem_pid")
    case "$2" in
    none) hold_start -n "$conns" -m none ;;
    get) hold_start -n "$conns" -m get -u /1k ;;
    post) hold_start -n "$conns" -m post -u /echo -b 16000 ;;
    esac || { stop_pid "$proxy_pid"; echo "?"; return; }
    sleep "$settle"
    now=$(mem_of "$mem_pid")
    [ "$held" = "$conns" ] || echo "bench-mem: $1 closed $((conns - held)) of $conns connections ($2)" >&2
    hold_stop
    stop_pid "$proxy_pid"
    awk -v a="$now" -v b="$base" -v n="$conns" 'BEGIN { printf "%d", (a - b) / n }'
}

# The burst row for proxy $1: prints "PEAK_BYTES_PER_CONN LEFT_KB".
burst_row() {
    local base peak left m sampler=""
    start_proxy "$1"
    base=$(mem_of "$mem_pid")
    # reset the peak (VmHWM) to the current size; where the kernel refuses, sample instead
    if ! { echo 5 >"/proc/$mem_pid/clear_refs"; } 2>/dev/null; then
        echo "$base" >"$tmp/peak"
        (p=$base; while kill -0 "$mem_pid" 2>/dev/null; do
            m=$(mem_of "$mem_pid"); if [ "${m:-0}" -gt "$p" ]; then p=$m; echo "$p" >"$tmp/peak"; fi
            sleep 0.02; done) &
        sampler=$!
        pids+=("$sampler")
    fi
    if ! hold_start -n "$conns" -m get -u /1k -c "$conns"; then
        [ -n "$sampler" ] && stop_pid "$sampler"
        stop_pid "$proxy_pid"; echo "? ?"; return
    fi
    if [ -n "$sampler" ]; then
        stop_pid "$sampler"; peak=$(cat "$tmp/peak")
    else
        peak=$(mem_of "$mem_pid" VmHWM)
    fi
    hold_stop
    sleep "$settle"
    left=$(mem_of "$mem_pid")
    stop_pid "$proxy_pid"
    awk -v p="$peak" -v l="$left" -v b="$base" -v n="$conns" \
        'BEGIN { printf "%d %d", (p - b) / n, (l - b) / 1024 }'
}

# The streaming row for proxy $1 and direction $2 (down or up): the most the memory grew, in kB,
# or ? when the whole GiB did not get through.
stream_row() {
    local base peak m curl_pid sizes gib=1073741824
    start_proxy "$1"
    base=$(mem_of "$mem_pid")
    peak=$base
    if [ "$2" = down ]; then
        curl -s -o /dev/null -w '%{size_upload} %{size_download}\n' --max-time 300 \
            "http://127.0.0.1:$port/big" >"$tmp/curl.out" &
    else
        curl -s -o /dev/null -w '%{size_upload} %{size_download}\n' --max-time 300 \
            -T "$tmp/backend/www/big" "http://127.0.0.1:$port/upload/big" >"$tmp/curl.out" &
    fi
    curl_pid=$!
    pids+=("$curl_pid")
    while kill -0 "$curl_pid" 2>/dev/null; do
        m=$(mem_of "$mem_pid")
        if [ "${m:-0}" -gt "$peak" ]; then peak=$m; fi
        sleep 0.1
    done
    wait_pid "$curl_pid"
    stop_pid "$proxy_pid"
    rm -f "$tmp/backend/www/upload/big"
    read -r -a sizes <"$tmp/curl.out" || sizes=(0 0)
    if { [ "$2" = down ] && [ "${sizes[1]:-0}" -lt "$gib" ]; } ||
        { [ "$2" = up ] && [ "${sizes[0]:-0}" -lt "$gib" ]; }; then
        echo "bench-mem: $1: the 1 GiB ${2}load did not get through (sent ${sizes[0]:-0}, received ${sizes[1]:-0})" >&2
        echo "?"
        return
    fi
    awk -v p="$peak" -v b="$base" 'BEGIN { printf "%d", (p - b) / 1024 }'
}

# --- the table ---------------------------------------------------------------------------------

proxies=(lb haproxy nginx)
declare -A r
echo "bench-mem: $conns connections per row, one worker each, nginx static backends; measuring..."
for p in "${proxies[@]}"; do
    r[idle,$p]=$(idle_row "$p" none)
    r[get,$p]=$(idle_row "$p" get)
    r[post,$p]=$(idle_row "$p" post)
    read -r "r[peak,$p]" "r[left,$p]" <<<"$(burst_row "$p")"
    r[down,$p]=$(stream_row "$p" down)
    r[up,$p]=$(stream_row "$p" up)
done

# The lowest of HAProxy's and nginx's numbers for row $1.
best_of() {
    printf '%s\n' "${r[$1,haproxy]}" "${r[$1,nginx]}" | grep -E '^-?[0-9]+$' | sort -g | head -1
}
# One row: lb, HAProxy, nginx, and lb's ratio to the best (bytes rows; lower is better).
line() {
    local key=$1 label=$2 unit=$3 best ratio_text="-"
    best=$(best_of "$key")
    if [ "$unit" = B ]; then ratio_text=$(ratio "${r[$key,lb]}" "${best:-0}"); fi
    bench_row memory "$label" "$unit" less "${r[$key,lb]:-?}" "${r[$key,haproxy]:-?}" "${r[$key,nginx]:-?}"
    printf '| %-44s | %9s | %9s | %9s | %7s |\n' "$label ($unit)" "${r[$key,lb]}" \
        "${r[$key,haproxy]}" "${r[$key,nginx]}" "$ratio_text"
}
echo
echo "Memory per client connection, $(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores;" \
     "$(haproxy -v | head -1 | awk '{ print "HAProxy " $3 }'), $(nginx -v 2>&1 | sed 's,.*/,nginx ,');" \
     "$conns connections per row, settle ${settle} s"
echo
printf '| %-44s | %9s | %9s | %9s | %7s |\n' "row" "lb" "HAProxy" "nginx" "lb/best"
printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "-----------" "-----------" "-----------" "---------"
line idle "idle connection, no request" B
line get "keep-alive connection after one GET" B
line post "after a 16,000-byte POST, then idle" B
line peak "$conns clients sending at once: peak" B
line left "... ${settle} s after they all closed: left" kB
line down "1 GiB download streamed: growth" kB
line up "1 GiB upload streamed: growth" kB
echo

# The targets (issue 14), checked on this run's numbers.
verdict() {
    if awk "BEGIN { exit !($2) }"; then echo "bench-mem: ok: $1"; else echo "bench-mem: MISSED: $1"; fi
}
for k in idle get post peak left down up; do
    case "${r[$k,lb]:-}" in '' | \?) die "no measurement for lb ($k): see the messages above" ;; esac
done
verdict "an idle connection costs under 512 B whatever it carried (${r[idle,lb]}, ${r[get,lb]}, ${r[post,lb]} B)" \
    "${r[idle,lb]} < 512 && ${r[get,lb]} < 512 && ${r[post,lb]} < 512"
best_peak=$(best_of peak)
verdict "a burst costs no more per connection than the best peer (${r[peak,lb]} B, best ${best_peak:-?} B)" \
    "${r[peak,lb]} <= ${best_peak:-0}"
verdict "the burst's memory goes back within ${settle} s (${r[left,lb]} kB left)" \
    "${r[left,lb]} < $conns * 512 / 1024"
verdict "1 GiB streamed either way stays flat (+${r[down,lb]} kB down, +${r[up,lb]} kB up)" \
    "${r[down,lb]} < 4096 && ${r[up,lb]} < 4096"
exit 0
