#!/usr/bin/env bash
# grade.sh - lab 1: one request, two TCP connections. Nine requests with Connection: close
# through lb in front of three backends that close after every answer; checked from the client's
# view, backend-sim's log, lb's access log, lbtop and (with capture rights) lbtrace.
. "$(dirname "$0")/../common/lib.sh"
lab_begin 1 "One request, two TCP connections"

step "start three backends that close their connection after every response"
say "--keepalive-timeout 0 makes backend-sim close after each answer, so lb cannot reuse a"
say "backend connection: every request needs a fresh one, and you can count the handshakes."
start_backends --keepalive-timeout 0

step "start lb (layer 7, round robin) in front of them"
# shellcheck disable=SC2046
start_lb --policy rr $(lb_backend_args)
watch "lbtop -p $LB_PORT   (view 1: one row per backend, the Requests column)"

step "capture the loopback interface with lbtrace while the requests run"
if capture_start lab1; then
    say "lbtrace is writing $OUT/lab1.pcap; it pairs the client leg and the backend leg of each request"
    watch "lbtrace -p $LB_PORT -B $BPORTS   (each request: a client leg C#n and a backend leg B#n)"
else
    say "no capture: $CAPTURE_WHY"
fi

step "send nine requests, each on its own connection (Connection: close)"
: >"$OUT/client.txt"
for i in $(seq 9); do
    curl -s -o /dev/null -D "$OUT/client-$i.head" -H 'Connection: close' -w '%{http_code}\n' \
        "$URL/whoami" >"$OUT/client-$i.code"
    b=$(tr -d '\r' <"$OUT/client-$i.head" | awk -F': ' 'tolower($1) == "x-backend" { print $2 }')
    id=$(tr -d '\r' <"$OUT/client-$i.head" | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
    printf '%s %s %s\n' "$(cat "$OUT/client-$i.code")" "${b:-?}" "${id:-?}" >>"$OUT/client.txt"
    say "request $i: status $(cat "$OUT/client-$i.code"), served by ${b:-?}, X-Request-ID ${id:-?}"
done
capture_stop
snap=$(snapshot after)

step "check what happened"
order=$(awk '{ printf "%s ", $2 }' "$OUT/client.txt")
[ "$order" = "b1 b2 b3 b1 b2 b3 b1 b2 b3 " ]
check lab1.rotation $? "the client saw X-Backend: ${order% } (want b1 b2 b3 repeated three times)"

n200=$(grep -c '^200 ' "$OUT/client.txt")
counts=$(sim_log 'select(.path == "/whoami") | .backend' | tr -d '"' | count_names)
[ "$n200" -eq 9 ] && [ "$counts" = "b1=3 b2=3 b3=3" ]
check lab1.backend-log $? "$n200 of 9 answered 200; backend-sim's log has $counts requests for /whoami"

xffs=$(sim_log 'select(.path == "/whoami") | .x_forwarded_for // "(none)"' | tr -d '"' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
nxff=$(sim_log 'select(.path == "/whoami" and .x_forwarded_for == "127.0.0.1")' | wc -l)
[ "$nxff" -eq 9 ]
check lab1.x-forwarded-for $? "X-Forwarded-For values the backends saw (count value):${xffs% ;} (want 9 x 127.0.0.1, the client)"

tops=$(jq -r '[.backends[] | "\(.name)=\(.requests)"] | join(" ")' "$snap")
[ "$tops" = "b1=3 b2=3 b3=3" ]
check lab1.lbtop-counts $? "lbtop --json counts requests per backend: $tops (want 3 each; $snap)"

ids_client=$(awk '{ print $3 }' "$OUT/client.txt" | sort)
ids_backend=$(sim_log 'select(.path == "/whoami") | .request_id' | tr -d '"' | sort)
ids_access=$(grep -o ' id=[0-9a-f]*' "$OUT/access.log" | cut -d= -f2 | sort)
[ -n "$ids_client" ] && [ "$ids_client" = "$ids_backend" ] && [ "$ids_client" = "$ids_access" ]
check lab1.request-id $? "the 9 X-Request-IDs the client got are the 9 in backend-sim's log and the 9 in lb's access log ($(wc -l <"$OUT/access.log") lines)"

if [ -n "${CAPTURE_PID:-}" ]; then
    segments lab1 >"$OUT/lab1.segments.json"
    csyn=$(jq -c 'select(.flags == "S" and .leg == "client")' "$OUT/lab1.segments.json" | wc -l)
    bsyn=$(jq -c 'select(.flags == "S" and .leg == "backend")' "$OUT/lab1.segments.json" | wc -l)
    [ "$csyn" -eq 9 ] && [ "$bsyn" -eq 9 ]
    check lab1.two-handshakes $? "the capture has $csyn SYNs on the client leg and $bsyn on the backend leg (want 9 and 9: two connections per request)"
    paired=$(jq -c 'select(.client.l7.request_id != null and .client.l7.request_id == .backend.l7.request_id)' "$OUT/lab1.trace.json" | wc -l)
    [ "$paired" -eq 9 ]
    check lab1.same-id-both-legs $? "lbtrace --json: $paired of 9 requests carry the same X-Request-ID on the client leg and the backend leg"
else
    skip lab1.two-handshakes "$CAPTURE_WHY"
    skip lab1.same-id-both-legs "$CAPTURE_WHY"
fi
lab_end
