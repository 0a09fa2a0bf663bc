#!/usr/bin/env bash
# grade.sh - lab 5: the power and the danger of layer 7. Connection pooling (fewer backend
# connections than requests), a pooled connection the backend closed while idle, a spoofed
# X-Forwarded-For, a Content-Length plus Transfer-Encoding smuggling probe refused with 400 before
# any backend sees it, sticky sessions, and a chunked body identical through lb and direct.
. "$(dirname "$0")/../common/lib.sh"
lab_begin 5 "The power and danger of layer 7"

step "start three backends that close a connection idle for 1 s, and lb with sticky sessions"
start_backends --keepalive-timeout 1
# shellcheck disable=SC2046
start_lb --policy rr --sticky-cookie LBSTICKY $(lb_backend_args)
watch "lbtop -p $LB_PORT, per backend: Conns opened against Requests (pooling), and Reused"
capture_start lab5 || say "no capture: $CAPTURE_WHY"

step "pooling: 30 requests, each on a new client connection"
mark=$(wc -l <"$OUT/backends.log")
for i in $(seq 30); do
    curl -s -o /dev/null -H 'Connection: close' -w '%{http_code}\n' "$URL/whoami"
done >"$OUT/pool.client"
pool_conns=$(tail -n +"$((mark + 1))" "$OUT/backends.log" | jq -r '"\(.backend) \(.peer_port)"' | sort -u | wc -l)
pool_ok=$(grep -c '^200$' "$OUT/pool.client")
say "30 client connections; backend-sim saw the requests arrive on $pool_conns backend connection(s)"
snap=$(snapshot pool)

step "a stale keep-alive connection: wait until the backends close the pooled ones"
say "backend-sim closes a connection after 1 s of silence; lb holds them in its pool. Waiting 2.5 s"
say "leaves lb with connections the backends have closed. lb must notice (or retry) before using one."
watch "lbtrace: FINs from the backend ports while nothing else happens; then new handshakes"
sleep 2.5
mark2=$(wc -l <"$OUT/backends.log")
for i in $(seq 6); do curl -s -o /dev/null -w '%{http_code}\n' "$URL/whoami"; done >"$OUT/stale.client"
stale_ok=$(grep -c '^200$' "$OUT/stale.client")
stale_new=$(tail -n +"$((mark2 + 1))" "$OUT/backends.log" | jq -r '"\(.backend) \(.peer_port)"' | sort -u)
old=$(head -n "$mark2" "$OUT/backends.log" | jq -r '"\(.backend) \(.peer_port)"' | sort -u)
reused_stale=$(comm -12 <(echo "$stale_new") <(echo "$old") | wc -l)
snap2=$(snapshot stale)
retries=$(jq '[.backends[].retries] | add' "$snap2")

step "a spoofed X-Forwarded-For"
say "the client claims to be 6.6.6.6; lb appends the address it really sees"
run curl -s -o /dev/null -H 'X-Forwarded-For: 6.6.6.6' "$URL/headers?spoof=1"
xff=$(sim_log 'select(.path | startswith("/headers")) | .x_forwarded_for' | tail -1 | tr -d '"')

step "a smuggling probe: Content-Length and Transfer-Encoding in one request"
probe=$'POST /smuggle-probe HTTP/1.1\r\nHost: lab5\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: lab5\r\n\r\n'
say "sending (by hand: printf '...' | nc 127.0.0.1 $LB_PORT):"
printf '%s' "$probe" | sed 's/\r$/\\r/; s/^/     | /'
exec 7<>"/dev/tcp/127.0.0.1/$LB_PORT"
printf '%s' "$probe" >&7
answer=$(timeout 5 cat <&7 | head -1 | tr -d '\r')
exec 7<&- 7>&-
say "lb answered: $answer"
sleep 0.2
reached=$(sim_log 'select(.path == "/smuggle-probe" or .path == "/smuggled")' | wc -l)
bad=$(jq '.totals.bad_requests' "$(snapshot probe)")

step "sticky sessions: --sticky-cookie LBSTICKY"
for i in $(seq 6); do curl -s -o /dev/null -w '%header{x-backend}\n' "$URL/whoami"; done >"$OUT/nocookie.client"
rm -f "$OUT/cookies.txt"
first=$(curl -s -o /dev/null -c "$OUT/cookies.txt" -w '%header{x-backend}' "$URL/login")
for i in $(seq 6); do curl -s -o /dev/null -b "$OUT/cookies.txt" -w '%header{x-backend}\n' "$URL/whoami"; done >"$OUT/cookie.client"
say "without the cookie: $(tr '\n' ' ' <"$OUT/nocookie.client")"
say "the first answer (from $first) set: $(grep LBSTICKY "$OUT/cookies.txt" | awk '{ print $6 "=" $7 }')"
say "with the cookie:    $(tr '\n' ' ' <"$OUT/cookie.client")"

step "a chunked body through lb and direct"
head -c 70000 /dev/urandom >"$OUT/upload.bin"
direct=$(curl -s "http://127.0.0.1:$B1/chunked/100000" | sha256sum | cut -c1-16)
via=$(curl -s "$URL/chunked/100000" | sha256sum | cut -c1-16)
up=$(sha256sum <"$OUT/upload.bin" | cut -c1-16)
echoed=$(curl -s -H 'Transfer-Encoding: chunked' --data-binary @"$OUT/upload.bin" "$URL/echo" | sha256sum | cut -c1-16)
capture_stop

step "check what happened"
[ "$pool_ok" -eq 30 ] && [ "$pool_conns" -le 6 ]
check lab5.pooling $? "$pool_ok of 30 answered 200 over $pool_conns backend connections (backend-sim's log; want at most 6: lb reuses its backend connections)"

if [ -s "$OUT/lab5.pcap" ]; then
    segments lab5 >"$OUT/lab5.segments.json"
    csyn=$(jq -c 'select(.flags == "S" and .leg == "client")' "$OUT/lab5.segments.json" | wc -l)
    bsyn=$(jq -c 'select(.flags == "S" and .leg == "backend")' "$OUT/lab5.segments.json" | wc -l)
    [ "$bsyn" -le 12 ] && [ "$csyn" -ge 40 ] && [ "$bsyn" -lt $((csyn / 3)) ]
    check lab5.pooling-capture $? "the capture: $csyn client handshakes against $bsyn backend handshakes for the whole lab (want far fewer backend ones)"
else
    skip lab5.pooling-capture "${CAPTURE_WHY:-no capture}"
fi

[ "$stale_ok" -eq 6 ] && [ "$reused_stale" -eq 0 ]
check lab5.stale-keepalive $? "after the backends closed their idle connections: $stale_ok of 6 answered 200; $reused_stale of them went over a closed connection (want 6 and 0); retries counted by lbtop so far: $retries"

[ "$xff" = "6.6.6.6, 127.0.0.1" ]
check lab5.spoofed-xff $? "the backend saw X-Forwarded-For: $xff (want '6.6.6.6, 127.0.0.1': the claim kept, the real address appended; only the last entry is lb's word)"

[[ "$answer" == HTTP/1.1\ 400* ]] && [ "$reached" -eq 0 ] && [ "$bad" -ge 1 ]
check lab5.smuggling-refused $? "lb answered '$answer'; requests for /smuggle-probe or /smuggled in backend-sim's log: $reached; lbtop bad_requests: $bad (want 400, 0, at least 1)"

nd=$(sort -u "$OUT/nocookie.client" | wc -l)
same=$(grep -cx "$first" "$OUT/cookie.client")
[ "$nd" -ge 2 ] && [ -n "$first" ] && [ "$same" -eq 6 ] && grep -q LBSTICKY "$OUT/cookies.txt"
check lab5.sticky $? "without the cookie the six requests went to $nd backends; with it, $same of 6 went to $first, the backend that set it (want at least 2, and 6)"

[ "$direct" = "$via" ] && [ "$up" = "$echoed" ]
check lab5.chunked-identical $? "GET /chunked/100000: sha256 $direct direct, $via through lb; a 70000-byte chunked upload to /echo: $up sent, $echoed echoed"
lab_end
