#!/usr/bin/env bash
# grade.sh - lab 4: one slow backend under round robin, least connections and power of two
# choices. The same load (240 GETs, 8 at a time) under each policy; the counts come from
# backend-sim's log, the pile-up from lbtop, the p95 from the client's own timings. Then a request
# slower than --server-timeout becomes a 504 on time.
. "$(dirname "$0")/../common/lib.sh"
lab_begin 4 "A slow backend: rr against leastconn against p2c"

SLOW=300 N=240 PAR=8

# load NAME: N GETs of /whoami, PAR at a time (curl --parallel); "CODE SECONDS BACKEND" lines in
# $OUT/NAME.client.
load() {
    local i
    : >"$OUT/$1.curlrc"
    for i in $(seq "$N"); do printf 'url = "%s/whoami"\noutput = "/dev/null"\n' "$URL" >>"$OUT/$1.curlrc"; done
    printf '   $ curl -s --parallel --parallel-max %d -K %s   (%d x GET /whoami)\n' "$PAR" "${OUT#"$LAB_ROOT"/}/$1.curlrc" "$N"
    curl -s --parallel --parallel-immediate --parallel-max "$PAR" -K "$OUT/$1.curlrc" \
        -w '%{http_code} %{time_total} %header{x-backend}\n' >"$OUT/$1.client"
}
# p95 NAME: the 95th percentile of the client's times, in ms.
p95() { awk '{ print $2 * 1000 }' "$OUT/$1.client" >"$OUT/$1.times"; percentile 95 "$OUT/$1.times"; }

step "start b1 slow (--latency $SLOW ms) and b2, b3 fast"
start_backend b1 "$B1" --latency "$SLOW"
start_backend b2 "$B2"
start_backend b3 "$B3"
say "b1 (pid $PID_b1) answers after $SLOW ms; b2 and b3 at once"

declare -A COUNT P95 PEAK
for policy in rr leastconn p2c; do
    step "policy $policy: $N requests, $PAR at a time"
    # shellcheck disable=SC2046
    start_lb --policy "$policy" $(lb_backend_args)
    case $policy in
    rr) watch "lbtop -p $LB_PORT: In-flight piles up on b1 while Requests stays equal" ;;
    leastconn) watch "lbtop: b1's In-flight stays small, so it is rarely the least loaded" ;;
    p2c) watch "lbtop: b1 loses every draw in which it has more in flight than the other" ;;
    esac
    mark=$(wc -l <"$OUT/backends.log")
    load "$policy"
    sleep 0.2
    snap=$(snapshot "$policy")
    COUNT[$policy]=$(tail -n +"$((mark + 1))" "$OUT/backends.log" | jq -r '.backend' | count_names)
    P95[$policy]=$(p95 "$policy")
    PEAK[$policy]=$(jq -r '[.backends[] | "\(.name)=\(.connections.peak)"] | join(" ")' "$snap")
    say "requests per backend: ${COUNT[$policy]}; client p95 ${P95[$policy]} ms; peak backend connections ${PEAK[$policy]}"
    stop_lb
done

step "a request longer than the server timeout"
# shellcheck disable=SC2046
say "--retries 0: a safe request that timed out would otherwise be tried once more on another"
say "backend (twice the wait); try it with --retries 1 by hand and compare the times"
start_lb --policy rr --server-timeout 1000 --retries 0 $(lb_backend_args)
watch "lbtop: the 504 column; lb's access log: status=504 after about 1000 ms"
out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$URL/delay/5000")
say "GET /delay/5000 with --server-timeout 1000: $out"
stop_lb

step "check what happened"
n_ok=$(cat "$OUT"/{rr,leastconn,p2c}.client | grep -c '^200 ')
[ "$n_ok" -eq $((3 * N)) ]
check lab4.all-answered $? "$n_ok of $((3 * N)) requests answered 200 (a slow backend is slow, not broken)"

[ "${COUNT[rr]}" = "b1=80 b2=80 b3=80" ]
check lab4.rr-equal $? "rr: backend-sim's log counts ${COUNT[rr]} (want 80 each: round robin counts requests, not work)"

set -- $(tr '=' ' ' <<<"${PEAK[rr]}")
[ "$2" -gt "$4" ] && [ "$2" -gt "$6" ] && [ "$2" -ge 3 ]
check lab4.rr-pileup $? "rr: peak backend connections ${PEAK[rr]} (want b1's above both others and at least 3: requests wait in line on the slow one)"

for policy in leastconn p2c; do
    b1=$(sed 's/^b1=\([0-9]*\).*/\1/' <<<"${COUNT[$policy]}")
    [ "$b1" -lt $((N / 5)) ]
    check "lab4.$policy-share" $? "$policy: ${COUNT[$policy]} (want b1 under a fifth, $((N / 5)), of $N)"
    awk -v a="${P95[$policy]}" -v b="${P95[rr]}" 'BEGIN { exit !(a < b / 2) }'
    check "lab4.$policy-p95" $? "$policy: client p95 ${P95[$policy]} ms against ${P95[rr]} ms under rr (want less than half)"
done

set -- $out
code=$1 secs=$2
logged=$(grep -c 'path="/delay/5000" status=504' "$OUT/access.log")
[ "$code" = 504 ] && awk -v t="$secs" 'BEGIN { exit !(t >= 0.9 && t < 2.9) }' && [ "$logged" -eq 1 ]
check lab4.504-on-time $? "GET /delay/5000 answered $code after ${secs} s with --server-timeout 1000 --retries 0 (want 504 after 0.9 s and well before 2.9 s, the backend would take 5 s); access log lines with status=504: $logged"
lab_end
