#!/usr/bin/env bash
# bench-tls.sh - HTTPS: lb terminating TLS next to HAProxy (bind ... ssl crt) and nginx
# (listen ... ssl), with the same certificate and the same cipher.
#
# Usage: scripts/bench-tls.sh BIN_DIR
#   Environment: BENCH_SECONDS (default 5), BENCH_CONNS (50), BENCH_THREADS (2, wrk threads),
#                BENCH_WORKERS (2: lb -w, haproxy nbthread, nginx worker_processes),
#                BENCH_ROUNDS (5).
#
# One nginx (two workers, as in bench-lb.sh, so that the backends are never what limits) serves a
# 1 KiB static file over plain HTTP on three backend ports. lb, HAProxy and nginx each terminate
# TLS on a free loopback port with one self-signed ECDSA P-256 certificate (made here with
# openssl), TLS 1.2 and 1.3 allowed, TLS 1.3 limited to TLS_AES_128_GCM_SHA256 on all three so
# they agree on the cipher (wrk negotiates TLS 1.3 with X25519), and pass requests on as plain
# HTTP with keep-alive to the backends, round robin. Three rows:
#   full       a full handshake (certificate, ECDSA signature, X25519) and one GET per
#              connection: BENCH_THREADS `openssl s_time -new -www /1k` clients in parallel,
#              connections per second (s_time never resumes a session);
#   resumed    a new connection per request with wrk ("Connection: close"): wrk keeps each
#              connection's session and resumes it on the next one, so these are resumed
#              handshakes (a TLS 1.3 ticket, still an X25519 exchange, no certificate and no
#              signature; lbtop's "resumed" counts them);
#   keep-alive wrk with keep-alive: handshakes amortised, the record layer and the proxying.
# One round measures every target for each row in a rotating order; the table shows each cell's
# median over BENCH_ROUNDS rounds, then lb's requests/s divided by the best peer's for each row. The negotiated protocol
# and cipher of each target are printed first, as openssl s_client sees them. Configs and logs
# live in a temporary directory removed at the end; every process is stopped by its PID. Numbers
# are only comparable within one run.
# shellcheck disable=SC2154 # free_port (lib/common.sh) assigns the port variables
set -uo pipefail

bin="${1:-bin}"
seconds="${BENCH_SECONDS:-5}"
conns="${BENCH_CONNS:-50}"
threads="${BENCH_THREADS:-2}"
workers="${BENCH_WORKERS:-2}"
rounds="${BENCH_ROUNDS:-5}"
suite="TLS_AES_128_GCM_SHA256"
ciphers12="ECDHE+AESGCM:ECDHE+CHACHA20" # lb's TLS 1.2 list (lb/tls_context.c)

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$bin/lb" ] || die "no $bin/lb (run make first)"
need_tools wrk haproxy nginx curl openssl
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, not '$rounds'"

make_temp_dir
free_port b1 b2 b3 lb_port lb_tls hap_port ngx_port

# The certificate all three present, and HAProxy's form of it (certificate and key in one file).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null || die "openssl could not make a certificate"
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/haproxy.pem" || die "cannot write $tmp/haproxy.pem"

# The backends: a static file from one nginx, on three ports.
mkdir -p "$tmp/www" "$tmp/backends" "$tmp/front"
head -c 1024 /dev/zero | tr '\0' 'x' >"$tmp/www/1k"
# nginx's workers may run as another user (nobody, when started as root): they must read these.
if ! chmod 711 "$tmp" || ! chmod 755 "$tmp/www" || ! chmod 644 "$tmp/www/1k" "$tmp/cert.pem" "$tmp/key.pem"; then
    die "chmod failed"
fi
start_static_backends "$tmp/backends" 2 0 "$tmp/www" "$b1" "$b2" "$b3" # as bench-lb.sh: two workers, never the limit

# lb's TLS 1.3 suites come from OpenSSL's configuration: the same one suite as the peers.
cat >"$tmp/openssl.cnf" <<EOF
openssl_conf = lblab_bench
[lblab_bench]
ssl_conf = lblab_ssl
[lblab_ssl]
system_default = lblab_tls
[lblab_tls]
Ciphersuites = $suite
EOF
OPENSSL_CONF="$tmp/openssl.cnf" "$bin/lb" -l "127.0.0.1:$lb_port" -b "127.0.0.1:$b1" \
    -b "127.0.0.1:$b2" -b "127.0.0.1:$b3" -w "$workers" --no-stats \
    --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" --tls-listen "127.0.0.1:$lb_tls" \
    >"$tmp/lb.log" 2>&1 &
lb_pid=$!
pids+=("$lb_pid")

cat >"$tmp/haproxy.cfg" <<EOF
global
    nbthread $workers
    maxconn 4096
    log stderr format raw local0 emerg
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers $ciphers12
    ssl-default-bind-ciphersuites $suite

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always

frontend fe
    bind 127.0.0.1:$hap_port ssl crt $tmp/haproxy.pem alpn http/1.1 defer-accept
    http-request set-header X-Forwarded-Proto https
    option forwardfor
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
    nginx_conf_start "$tmp/front" "$workers"
    cat <<EOF
    keepalive_requests 1000000;
    upstream be {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        server 127.0.0.1:$b3;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$ngx_port ssl deferred;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers $ciphers12;
        ssl_conf_command Ciphersuites $suite;
        ssl_session_cache shared:TLS:10m;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }
    }
}
EOF
} >"$tmp/front/nginx.conf"
nginx -e "$tmp/front/error.log" -p "$tmp/front" -c "$tmp/front/nginx.conf" >"$tmp/front.log" 2>&1 &
ngx_pid=$!
pids+=("$ngx_pid")

wait_port "$lb_tls" "$lb_pid" || die "lb did not start: $(cat "$tmp/lb.log")"
wait_port "$hap_port" "$hap_pid" || die "haproxy did not start: $(cat "$tmp/haproxy.log")"
wait_port "$ngx_port" "$ngx_pid" || die "nginx did not start: $(cat "$tmp/front/error.log" "$tmp/front.log" 2>/dev/null)"

names=(lb haproxy nginx)
ports=("$lb_tls" "$hap_port" "$ngx_port")

# Each target serves the file whole over HTTPS, and says which protocol and cipher it chose.
echo "lblab TLS bench: what each target negotiates (openssl s_client):"
for ((i = 0; i < ${#names[@]}; i++)); do
    got=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "https://127.0.0.1:${ports[$i]}/1k")
    [ "$got" = "200 1024" ] || die "${names[$i]} (https://127.0.0.1:${ports[$i]}/1k) answered '$got', not '200 1024'"
    hs=$(timeout 10 openssl s_client -connect "127.0.0.1:${ports[$i]}" -alpn http/1.1 </dev/null 2>&1)
    # "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256" and "Server Temp Key: X25519, 253 bits"
    printf '  %-8s %s, key exchange %s\n' "${names[$i]}" \
        "$(awk '/^New, / { sub(/^New, /, ""); print; exit }' <<<"$hs")" \
        "$(awk '/^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); print; exit }' <<<"$hs")"
done

# Runs wrk (bounded in time even if a target hangs); prints "requests/s errors".
measure() {
    local out rps errs
    out=$(timeout $((seconds + 30)) wrk -t"$threads" -c"$conns" -d"${seconds}s" "${@:2}" "$1" 2>&1)
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    errs=$(wrk_errors <<<"$out")
    echo "${rps:-0} ${errs:-0}"
}

# BENCH_THREADS openssl s_time clients at once, full handshakes; prints "connections/s 0".
measure_full() {
    local start end n
    start=$(date +%s%N)
    n=$(for ((c = 0; c < threads; c++)); do
        timeout $((seconds + 30)) openssl s_time -connect "127.0.0.1:$1" -new -time "$seconds" \
            -www /1k 2>/dev/null &
    done | awk '/connections in .* real seconds/ { n += $1 } END { print n + 0 }')
    end=$(date +%s%N)
    awk -v n="$n" -v ns=$((end - start)) 'BEGIN { printf "%.2f 0\n", (ns > 0 ? n / (ns / 1e9) : 0) }'
}

hz=$(getconf CLK_TCK)
# The processes that do each target's work: lb, haproxy, nginx's workers.
mapfile -t ngx_workers < <(pgrep -P "$ngx_pid")
[ "${#ngx_workers[@]}" -gt 0 ] || die "nginx has no worker processes"
target_pids=("$lb_pid" "$hap_pid" "${ngx_workers[*]}")

rows=(full new keepalive)
declare -A samples errors cpu
echo
echo "GET /1k (1 KiB) over HTTPS, ${seconds}s per cell: full handshakes ($threads openssl s_time" \
    "-new clients), a new connection per request (wrk -t$threads -c$conns, sessions resumed)," \
    "keep-alive (wrk -t$threads -c$conns); $workers workers each; $rounds rounds in rotating" \
    "order; backends (nginx static, plain HTTP) on :$b1 :$b2 :$b3"
for ((r = 0; r < rounds; r++)); do
    for row in "${rows[@]}"; do
        for ((k = 0; k < ${#names[@]}; k++)); do
            i=$(((k + r) % ${#names[@]}))
            # shellcheck disable=SC2086 # nginx's workers are several words
            t0=$(cpu_ticks ${target_pids[$i]})
            if [ "$row" = full ]; then
                read -r rps errs < <(measure_full "${ports[$i]}")
            elif [ "$row" = new ]; then
                read -r rps errs < <(measure "https://127.0.0.1:${ports[$i]}/1k" -H "Connection: close")
            else
                read -r rps errs < <(measure "https://127.0.0.1:${ports[$i]}/1k")
            fi
            # shellcheck disable=SC2086
            t1=$(cpu_ticks ${target_pids[$i]})
            samples[$i,$row]+=" $rps"
            errors[$i,$row]=$((${errors[$i,$row]:-0} + errs))
            # microseconds of the target's CPU per request (or connection) in this cell
            cpu[$i,$row]+=" $(cpu_us_per "$t0" "$t1" "$hz" "$rps" "$seconds")"
        done
    done
    echo "round $((r + 1))/$rounds done"
    kill -0 "$lb_pid" 2>/dev/null || die "lb died during the benchmark: $(tail -5 "$tmp/lb.log")"
done

declare -A med
printf '\n%-12s %18s %8s %18s %8s %18s %8s\n' "median of $rounds" "full handshake c/s" "errors" \
    "resumed, new c r/s" "errors" "keep-alive r/s" "errors"
for ((i = 0; i < ${#names[@]}; i++)); do
    line=$(printf '%-12s' "${names[$i]}")
    for row in "${rows[@]}"; do
        # shellcheck disable=SC2086 # the samples are words
        med[$i,$row]=$(printf '%s\n' ${samples[$i,$row]} | median)
        line+=$(printf ' %18s %8s' "${med[$i,$row]}" "${errors[$i,$row]}")
    done
    echo "$line"
done

echo
for row in "${rows[@]}"; do
    best=1
    if awk -v a="${med[2,$row]}" -v b="${med[1,$row]}" 'BEGIN { exit !(a + 0 > b + 0) }'; then best=2; fi
    printf 'lb / best peer (%s) requests/s, %s: %s   (lb / haproxy %s, lb / nginx %s)\n' \
        "${names[$best]}" "$(case $row in full) echo "full handshake, connections/s" ;;
            new) echo "new connection per request (resumed)" ;; *) echo "keep-alive" ;; esac)" \
        "$(ratio "${med[0,$row]}" "${med[$best,$row]}")" \
        "$(ratio "${med[0,$row]}" "${med[1,$row]}")" "$(ratio "${med[0,$row]}" "${med[2,$row]}")"
    case $row in
    full) bench_row tls "full handshakes ($threads openssl s_time)" "c/s" more "${med[0,$row]}" "${med[1,$row]}" "${med[2,$row]}" ;;
    new) bench_row tls "$conns clients, a resumed connection per request" req/s more "${med[0,$row]}" "${med[1,$row]}" "${med[2,$row]}" ;;
    *) bench_row tls "$conns keep-alive clients, 1 KiB" req/s more "${med[0,$row]}" "${med[1,$row]}" "${med[2,$row]}" ;;
    esac
done
# CPU per request: what each target spent, whatever else runs on the machine (a steadier
# comparison than requests/s when the cores are shared).
printf '\n%-12s %18s %27s %18s\n' "CPU us, median" "per full handshake" "per resumed conn + request" \
    "per keep-alive req"
for ((i = 0; i < ${#names[@]}; i++)); do
    line=$(printf '%-12s' "${names[$i]}")
    for row in "${rows[@]}"; do
        # shellcheck disable=SC2086 # the samples are words
        c=$(printf '%s\n' ${cpu[$i,$row]} | median)
        line+=$(printf ' %18s' "$c")
        [ "$row" = new ] && line+="         "
    done
    echo "$line"
done
echo
echo "(errors: socket errors plus non-2xx/3xx responses over all rounds, as wrk counts them;"
echo " samples per cell, requests/s:)"
for ((i = 0; i < ${#names[@]}; i++)); do
    printf '  %-8s full:%s   resumed:%s   keep-alive:%s\n' "${names[$i]}" "${samples[$i,full]}" \
        "${samples[$i,new]}" "${samples[$i,keepalive]}"
done
