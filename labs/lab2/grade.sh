#!/usr/bin/env bash
# grade.sh - lab 2: per request (layer 7) against per connection (layer 4). The same six requests
# on one keep-alive connection through lb -m http and then lb -m tcp, in front of the same three
# backends; then, when lb has it, the PROXY protocol giving the address back to an L4 backend.
. "$(dirname "$0")/../common/lib.sh"
lab_begin 2 "Per request (L7) versus per connection (L4)"

# six_on_one NAME: six GET /whoami on one connection; the backends' names in $OUT/NAME.names,
# curl's view (new connections, local port) in $OUT/NAME.curl.
six_on_one() {
    local urls=() i
    for i in $(seq 6); do urls+=("$URL/whoami"); done
    printf '   $ curl -s %s ... (six URLs, one connection)\n' "$URL/whoami"
    curl -s -w 'connects=%{num_connects} local_port=%{local_port}\n' "${urls[@]}" >"$OUT/$1.body"
    awk '/^Name: / { print $2 }' "$OUT/$1.body" >"$OUT/$1.names"
    grep '^connects=' "$OUT/$1.body" >"$OUT/$1.curl"
    say "served by: $(tr '\n' ' ' <"$OUT/$1.names")"
    say "curl opened $(awk -F'[= ]' '{ s += $2 } END { print s }' "$OUT/$1.curl") connection(s) for the six requests"
}

# conns_since LINE: distinct backend connections (backend, lb's port) in backend-sim's log after LINE.
conns_since() {
    tail -n +"$(($1 + 1))" "$OUT/backends.log" | jq -r '"\(.backend) \(.peer_port)"' | sort -u | wc -l
}

# spliced_after NAME LEAST: the bytes lb has spliced so far (lbtop --json, lb.splice.bytes), once
# they reach LEAST or after 2 s; the last snapshot stays in $OUT/lbtop-NAME.json. (A worker
# publishes its count at the end of the round of events that spliced the last bytes.)
spliced_after() {
    local n=0 _
    for _ in $(seq 20); do
        n=$(jq '.lb.splice.bytes // 0' "$(snapshot "$1")")
        [ "$n" -ge "$2" ] && break
        sleep 0.1
    done
    echo "$n"
}

# download PATH: GET PATH through lb on a connection of its own (a minute at most); prints the
# body's size.
download() {
    printf '   $ curl -s -o /dev/null %s\n' "$URL$1" >&2
    curl -s --max-time 60 -o /dev/null -w '%{size_download}' "$URL$1"
}

BIG=8388608 # 8 MiB
MOST=$((BIG - (1 << 20))) # lb reads what comes with the head, then splices the rest

step "start three backends"
start_backends

step "layer 7: lb -m http, round robin per request"
# shellcheck disable=SC2046
start_lb -m http --policy rr $(lb_backend_args)
watch "lbtop -p $LB_PORT: Requests grows by one per request, on each backend in turn"
capture_start lab2-http || say "no capture: $CAPTURE_WHY"
mark=$(wc -l <"$OUT/backends.log")
six_on_one http
capture_stop
snap=$(snapshot http)
http_conns=$(conns_since "$mark")
http_xff=$(tail -n +"$((mark + 1))" "$OUT/backends.log" | jq -c 'select(.x_forwarded_for == "127.0.0.1")' | wc -l)
say "an 8 MiB body with Content-Length, then one sent chunked, each on a connection of its own"
watch "lbtop -p $LB_PORT: the 'splice' line counts the bytes that went socket to socket through a pipe"
h0=$(jq '.lb.splice.bytes // 0' "$snap")
hl_size=$(download "/bytes/$BIG")
h1=$(spliced_after http-length $((h0 + MOST)))
hc_size=$(download "/chunked/$BIG")
h2=$(spliced_after http-chunked $((h1 + MOST))) # waits 2 s unless the chunked body was spliced
say "spliced: $((h1 - h0)) bytes of the first body, $((h2 - h1)) of the chunked one"
stop_lb

step "layer 4: lb -m tcp, the same backends, the same command"
# shellcheck disable=SC2046
start_lb -m tcp --policy rr $(lb_backend_args)
watch "lbtop -p $LB_PORT says 'mode tcp': it counts connections and bytes, there are no requests to count"
capture_start lab2-tcp || say "no capture: $CAPTURE_WHY"
mark2=$(wc -l <"$OUT/backends.log")
six_on_one tcp
capture_stop
snap2=$(snapshot tcp)
tcp_conns=$(conns_since "$mark2")
tcp_xff=$(tail -n +"$((mark2 + 1))" "$OUT/backends.log" | jq -c 'select(.x_forwarded_for != null)' | wc -l)
say "the same chunked 8 MiB body through the layer 4 relay"
t0=$(jq '.lb.splice.bytes // 0' "$snap2")
tc_size=$(download "/chunked/$BIG")
t1=$(spliced_after tcp-chunked $((t0 + MOST)))
say "spliced: $((t1 - t0)) bytes"
stop_lb

step "check what happened"
hc=$(count_names <"$OUT/http.names")
[ "$hc" = "b1=2 b2=2 b3=2" ]
check lab2.http-split $? "-m http: the six requests went $hc (want 2/2/2: each request is scheduled)"
tcnt=$(count_names <"$OUT/tcp.names")
tn=$(sort -u "$OUT/tcp.names" | wc -l)
[ "$(wc -l <"$OUT/tcp.names")" -eq 6 ] && [ "$tn" -eq 1 ]
check lab2.tcp-split $? "-m tcp: the six requests went $tcnt (want all six on one backend: the connection is scheduled)"

ha=$(jq '.totals.connections.accepted' "$snap")
ta=$(jq '.totals.connections.accepted' "$snap2")
[ "$ha" -eq 1 ] && [ "$ta" -eq 1 ]
check lab2.one-client-connection $? "lbtop: lb accepted $ha client connection in http mode and $ta in tcp mode (want 1 and 1)"

hb=$(jq '[.backends[].connections.opened] | add' "$snap")
tb=$(jq '[.backends[].connections.opened] | add' "$snap2")
[ "$http_conns" -eq 3 ] && [ "$tcp_conns" -eq 1 ] && [ "$hb" -eq 3 ] && [ "$tb" -eq 1 ]
check lab2.backend-connections $? "backend connections: http $http_conns in backend-sim's log, $hb in lbtop; tcp $tcp_conns and $tb (want 3 against 1)"

[ "$http_xff" -eq 6 ] && [ "$tcp_xff" -eq 0 ]
check lab2.x-forwarded-for $? "backend-sim saw X-Forwarded-For: 127.0.0.1 on $http_xff of 6 requests in http mode, an X-Forwarded-For on $tcp_xff of 6 in tcp mode (want 6 and 0)"

hm=$(jq -r '.lb.mode' "$snap") tm=$(jq -r '.lb.mode' "$snap2")
hr=$(jq '.totals.responses["2xx"]' "$snap") tr2=$(jq '.totals.responses["2xx"]' "$snap2")
# in tcp mode lbtop --json has no response counts at all (null): lb reads no requests there
[ "$hm" = http ] && [ "$tm" = tcp ] && [ "$hr" -eq 6 ] && { [ "$tr2" = null ] || [ "$tr2" -eq 0 ]; }
check lab2.lbtop-view $? "lbtop: mode $hm counted $hr 2xx responses; mode $tm counted ${tr2/null/none} (no requests seen, only a connection)"

# Layer 4 never reads the bytes, so it can always splice them; layer 7 splices a body once its
# head says how long it is, but must read a chunked one to find where it ends.
[ "$hl_size" -eq "$BIG" ] && [ "$hc_size" -eq "$BIG" ] && [ "$tc_size" -ge "$BIG" ] &&
    [ $((h1 - h0)) -ge "$MOST" ] && [ $((h2 - h1)) -lt "$((1 << 20))" ] && [ $((t1 - t0)) -ge "$MOST" ]
check lab2.splice $? "spliced by lb: http mode $((h1 - h0)) bytes of the $hl_size-byte Content-Length body and $((h2 - h1)) of the $hc_size-byte chunked one; tcp mode $((t1 - t0)) of the chunked one, its framing included (want at least $MOST, under 1 MiB, at least $MOST)"

if [ -s "$OUT/lab2-http.pcap" ] && [ -s "$OUT/lab2-tcp.pcap" ]; then
    hs=$(segments lab2-http | jq -c 'select(.flags == "S" and .leg == "backend")' | wc -l)
    ts=$(segments lab2-tcp | jq -c 'select(.flags == "S" and .leg == "backend")' | wc -l)
    cs=$(segments lab2-tcp | jq -c 'select(.flags == "S" and .leg == "client")' | wc -l)
    [ "$hs" -eq 3 ] && [ "$ts" -eq 1 ] && [ "$cs" -eq 1 ]
    check lab2.capture-handshakes $? "the captures show $hs backend SYNs in http mode, $ts in tcp mode for $cs client SYN (want 3, 1, 1)"
else
    skip lab2.capture-handshakes "${CAPTURE_WHY:-no capture}"
fi

step "the PROXY protocol: giving the client's address back to a layer 4 backend"
if ! lb_has send-proxy; then
    skip lab2.proxy-protocol "this lb has no send-proxy backend option (lb -h does not mention it): PROXY protocol not built yet"
elif ! sim_has accept-proxy; then
    skip lab2.proxy-protocol "this backend-sim has no --accept-proxy (backend-sim -h does not mention it)"
else
    say "restart the backends with --accept-proxy and lb -m tcp with send-proxy on each backend"
    stop_pid "$PID_b1"; stop_pid "$PID_b2"; stop_pid "$PID_b3"
    wait_closed "$B1"; wait_closed "$B2"; wait_closed "$B3"
    start_backends --accept-proxy
    # shellcheck disable=SC2046
    start_lb -m tcp $(lb_backend_args send-proxy)
    mark3=$(wc -l <"$OUT/backends.log")
    port=$(curl -s -o "$OUT/proxy.body" -w '%{local_port}' "$URL/whoami")
    say "curl's own port was $port; a backend that learns it learned the client's address"
    sleep 0.2
    seen=$(tail -n +"$((mark3 + 1))" "$OUT/backends.log" | grep -c -E "[\":]${port}[\",}]")
    line=$(tail -n +"$((mark3 + 1))" "$OUT/backends.log" | head -1)
    [ "$seen" -ge 1 ]
    check lab2.proxy-protocol $? "backend-sim's log line for the request: $line (want the client's port $port in it)"
    stop_lb
fi
lab_end
