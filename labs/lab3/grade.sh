#!/usr/bin/env bash
# grade.sh - lab 3: failures and health. Retries of a safe request and never of a POST, a 500 that
# is an answer (passed on, not retried), a backend killed by PID (no GET lost, DOWN in lbtop, a SYN
# answered by RST on the wire) and brought back (UP again), and, when lb has them, active health
# checks (a backend set down through /admin/health that only a check can notice) and --observe 5xx
# (a backend answering only 500s ejected). A feature lb -h does not name is a SKIP, never a FAIL.
. "$(dirname "$0")/../common/lib.sh"
lab_begin 3 "Failures and health"

INTERVAL=300 FALL=2 RISE=2
HEALTH=()
if lb_has health-path; then
    HEALTH=(--health-path /health --health-interval "$INTERVAL" --health-timeout 200
        --health-rise "$RISE" --health-fall "$FALL")
    say "this lb has active health checks: every ${INTERVAL} ms, DOWN after $FALL failures, UP after $RISE successes"
else
    say "this lb has no --health-path (no active health checks yet): only passive health, a failed"
    say "connect marks a backend DOWN and it rests 5 s; the checks that need active checks SKIP"
fi

# state NAME: the backend's state as lbtop --json shows it now.
state() {
    "$BIN/lbtop" -p "$LB_PORT" --json 2>/dev/null | jq -r --arg n "$1" '.backends[] | select(.name == $n) | .state'
}
# wait_state NAME STATE LIMIT_MS: poll lbtop until NAME is STATE; prints the milliseconds it took.
wait_state() {
    local t0 now
    t0=$(date +%s%N)
    while :; do
        now=$(date +%s%N)
        if [ "$(state "$1")" = "$2" ]; then echo $(((now - t0) / 1000000)); return 0; fi
        [ $(((now - t0) / 1000000)) -gt "$3" ] && { echo $(((now - t0) / 1000000)); return 1; }
        sleep 0.05
    done
}
# get_many N PATH: N GETs, each on its own connection; "CODE BACKEND" lines on stdout.
get_many() {
    local i
    for i in $(seq "$1"); do
        curl -s -o /dev/null -H 'Connection: close' -w '%{http_code} %header{x-backend}\n' "$URL$2" 2>/dev/null ||
            curl -s -o /dev/null -H 'Connection: close' -w '%{http_code} ?\n' "$URL$2"
    done
}
# curl older than 7.84 has no %header{}: then ask the body.
if ! curl -s -o /dev/null -w '%header{x}' http://127.0.0.1:1 2>&1 | grep -q 'header{'; then :; fi

step "start three backends, one process each (so one can be killed alone), and lb with --retries 1"
start_backends
# shellcheck disable=SC2046
start_lb --policy rr --retries 1 "${HEALTH[@]}" $(lb_backend_args)
# lbtop's view of the states, sampled every 0.2 s, so the transitions can be read afterwards.
(
    while :; do
        "$BIN/lbtop" -p "$LB_PORT" --json 2>/dev/null |
            jq -c '{time: .time, states: ([.backends[] | "\(.name)=\(.state)"] | join(" "))}'
        sleep 0.2
    done
) >"$OUT/states.log" 2>/dev/null &
track $!
watch "lbtop -p $LB_PORT, view 1: the STATE column of each backend, and its Retries"
capture_start lab3 || say "no capture: $CAPTURE_WHY"

# Active checks count only when they happen: GET /health in backend-sim's log, from each backend.
ACTIVE=0
if [ ${#HEALTH[@]} -gt 0 ]; then
    limit=$((2 * INTERVAL + 2000)) t0=$(date +%s%N)
    while :; do
        seen=$(sim_log 'select(.path == "/health") | .backend' | sort -u | wc -l)
        [ "$seen" -eq 3 ] && break
        [ $((($(date +%s%N) - t0) / 1000000)) -gt "$limit" ] && break
        sleep 0.1
    done
    n=$(sim_log 'select(.path == "/health")' | wc -l)
    [ "$seen" -eq 3 ] && ACTIVE=1
    check lab3.health-checks-sent $((1 - ACTIVE)) "GET /health requests in backend-sim's log within $limit ms of lb's start: $n, reaching $seen of 3 backends (want all 3: lb accepts --health-path, so it must check)"
    [ $ACTIVE -eq 1 ] || NOACTIVE="lb accepts --health-path but sent no health checks (see lab3.health-checks-sent)"
else
    NOACTIVE="this lb has no --health-path (lb -h does not mention it): active health checks not built yet"
    skip lab3.health-checks-sent "$NOACTIVE"
fi

step "a request that breaks the connection: GET /reset and POST /reset"
say "/reset makes the backend close with a TCP RST before answering. A GET is safe to send again;"
say "a POST may have done its work already, so lb must never send it twice."
get=$(curl -s -o /dev/null -w '%{http_code}' "$URL/reset")
post=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d 'pay=100' "$URL/reset")
say "GET /reset answered $get, POST /reset answered $post"
sleep 0.2
ng=$(sim_log 'select(.method == "GET" and .path == "/reset") | .backend' | tr -d '"' | tr '\n' ' ')
np=$(sim_log 'select(.method == "POST" and .path == "/reset") | .backend' | tr -d '"' | tr '\n' ' ')
set -- $ng
[ "$get" = 502 ] && [ $# -eq 2 ] && [ "$1" != "$2" ]
check lab3.get-retried $? "GET /reset answered $get; backend-sim's log shows it on: ${ng:-nothing}(want two different backends: one retry)"
set -- $np
[ "$post" = 502 ] && [ $# -eq 1 ]
check lab3.post-not-repeated $? "POST /reset answered $post; backend-sim's log shows it on: ${np:-nothing}(want exactly one backend)"

step "a burst of 500s: an answer, not a broken connection"
codes=$(for i in $(seq 6); do curl -s -o /dev/null -w '%{http_code} ' "$URL/status/500"; done)
n500=$(sim_log 'select(.path == "/status/500")' | wc -l)
[ "$codes" = "500 500 500 500 500 500 " ] && [ "$n500" -eq 6 ]
check lab3.500-passed-on $? "the client got: ${codes% }; backend-sim logged $n500 requests for /status/500 (want six 500s and 6: a response is never retried)"

step "kill b2 (pid $PID_b2) and keep sending GETs"
watch "lbtop: b2 turns DOWN at the first refused connect; lbtrace: a SYN to :$B2 answered by RST"
run kill -KILL "$PID_b2"
wait "$PID_b2" 2>/dev/null
wait_closed "$B2"
get_many 30 /whoami >"$OUT/after-kill.txt"
ok=$(grep -c '^200 ' "$OUT/after-kill.txt")
onb2=$(grep -c ' b2$' "$OUT/after-kill.txt")
[ "$ok" -eq 30 ] && [ "$onb2" -eq 0 ]
check lab3.no-get-lost $? "$ok of 30 GETs after the kill answered 200, $onb2 by b2 (want 30 and 0)"
# Passive health marks b2 DOWN at a refused connect; active checks within fall x interval.
if [ $ACTIVE -eq 1 ]; then limit=$((FALL * INTERVAL + 3000)); else limit=1000; fi
ms=$(wait_state b2 DOWN "$limit")
rc=$?
check lab3.down-in-lbtop $rc "lbtop --json shows b2 $(state b2) ${ms} ms after the 30 GETs (want DOWN within $limit ms); lb said: $(grep -m1 'b2 DOWN' "$OUT/lb.err" || echo nothing)"

step "start b2 again"
start_backend b2 "$B2"
# Back by good checks (rise x interval) or, after a passive ejection, by a trial request after its
# 5 s cool-down: either way within 9 s, so keep some traffic going and watch for it.
say "b2 comes back by $RISE good checks in a row (active) or by a trial request after its 5 s rest"
limit=9000 t0=$(date +%s%N) served=0
while [ $((($(date +%s%N) - t0) / 1000000)) -lt $limit ]; do
    get_many 1 /whoami >>"$OUT/after-restart.txt"
    [ "$(state b2)" = UP ] && grep -q ' b2$' "$OUT/after-restart.txt" && { served=1; break; }
    sleep 0.25
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$served" -eq 1 ]
check lab3.up-again $? "b2 UP and serving again $ms ms after its restart (limit $limit ms: the 5 s cool-down or rise x interval, plus margin)"
sleep 0.6 # two more samples of the states
trans=$(jq -r '.states' "$OUT/states.log" | grep -o 'b2=[A-Z]*' | uniq | tr '\n' ' ')
[[ "$trans" == *"b2=UP b2=DOWN b2=UP"* ]]
check lab3.transitions $? "b2's states as lbtop showed them over time: ${trans% } (want UP, DOWN, UP in that order; $OUT/states.log)"

step "set b3 down through /admin/health: its port still accepts, only /health says 503"
if [ $ACTIVE -eq 0 ]; then
    say "without active checks nothing asks /health: b3 keeps its requests while it says it is down"
    skip lab3.admin-down "$NOACTIVE"
    skip lab3.admin-up "$NOACTIVE"
else
    run curl -s -X POST -d down "http://127.0.0.1:$B3/admin/health"
    echo
    limit=$((FALL * INTERVAL + 3000))
    ms=$(wait_state b3 DOWN "$limit")
    rc=$?
    get_many 12 /whoami >"$OUT/after-admin.txt"
    onb3=$(grep -c ' b3$' "$OUT/after-admin.txt")
    [ $rc -eq 0 ] && [ "$onb3" -eq 0 ]
    check lab3.admin-down $? "b3 DOWN $ms ms after /admin/health down (limit fall x interval + 3000 ms = $limit); then $onb3 of 12 GETs went to b3 (want 0)"
    run curl -s -X POST -d up "http://127.0.0.1:$B3/admin/health"
    echo
    ms=$(wait_state b3 UP "$((RISE * INTERVAL + 3000))")
    check lab3.admin-up $? "b3 UP again $ms ms after /admin/health up (limit rise x interval + 3000 ms)"
fi

step "a backend that answers only 500s, with lb watching answers (--observe 5xx)"
if ! lb_has --observe; then
    skip lab3.5xx-ejected "this lb has no --observe (lb -h does not mention it): 5xx answers never count against a backend"
else
    say "b1 restarted with --fail-rate 1 (every answer a 500); lb with --observe 5xx --max-fails 3:"
    say "three 500s in the window eject b1, and the clients stop getting them"
    stop_lb
    stop_pid "$PID_b1"
    wait_closed "$B1"
    start_backend b1 "$B1" --fail-rate 1
    # shellcheck disable=SC2046
    start_lb --policy rr --observe 5xx --max-fails 3 --fail-window 10000 $(lb_backend_args)
    get_many 15 /whoami >"$OUT/observe.txt"
    n500=$(grep -c '^500 ' "$OUT/observe.txt")
    tail3=$(tail -3 "$OUT/observe.txt" | awk '{ printf "%s ", $1 }')
    ms=$(wait_state b1 DOWN 1000)
    rc=$?
    [ $rc -eq 0 ] && [ "$n500" -ge 3 ] && [ "$n500" -le 4 ] && [ "$tail3" = "200 200 200 " ]
    check lab3.5xx-ejected $? "the client got $n500 answers 500 of 15 (want 3, or 4 if one was in flight), the last three: ${tail3% } (want 200s); lbtop shows b1 $(state b1) (want DOWN)"
fi
capture_stop

if [ -s "$OUT/lab3.pcap" ]; then
    segments lab3 >"$OUT/lab3.segments.json"
    syn=$(jq -c --arg p "127.0.0.1:$B2" 'select(.dst == $p and .flags == "S")' "$OUT/lab3.segments.json" | wc -l)
    # A refused connect: a connection whose SYN to b2 got no SYN-ACK but an RST.
    refused=$(jq -s -c --arg p "127.0.0.1:$B2" '[group_by(.conn)[]
        | select(any(.[]; .dst == $p and .flags == "S"))
        | select(all(.[]; .flags != "S."))
        | select(any(.[]; .src == $p and (.flags | test("R"))))
        | [.[] | "\(.time[11:23]) \(.src) > \(.dst) [\(.flags)]"]]' "$OUT/lab3.segments.json")
    n=$(jq 'length' <<<"$refused")
    [ "$n" -ge 1 ]
    check lab3.syn-rst $? "the capture has $syn SYNs to b2's port :$B2, $n of them answered by RST (refused connects); the first: $(jq -r '.[0] // [] | join(", ")' <<<"$refused")"
else
    skip lab3.syn-rst "${CAPTURE_WHY:-no capture}"
fi
lab_end
