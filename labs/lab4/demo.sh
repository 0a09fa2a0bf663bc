# demo.sh - lab 4 on a projector: b1 slow; lb round robin (lbtop, lbtrace) and lb leastconn
# (the extra pane) take the same bursts.
# shellcheck shell=bash disable=SC2034,SC2046 # sourced by labs/common/demo.sh, which reads these
demo_setup() {
    start_backend b1 "$B1" --latency 300
    start_backend b2 "$B2"
    start_backend b3 "$B3"
    # shellcheck disable=SC2046
    start_lb --policy rr $(lb_backend_args)
    LB2=$(free_port)
    "$BIN/lb" --policy leastconn -l "127.0.0.1:$LB2" -w 2 $(lb_backend_args) 2>>"$OUT/lb2.err" &
    track $!
    wait_port "$LB2" || true
    export LB2
    DEMO_EXTRA_PANE="$BIN/lbtop -p $LB2 -d 0.5"
    DEMO_EXTRA_TITLE="lbtop for --policy leastconn on :$LB2"
}
burst() {
    local port=$1 i args=()
    for i in $(seq 60); do args+=(-o /dev/null "http://127.0.0.1:$port/whoami"); done
    curl -s --parallel --parallel-max 8 -w '%header{x-backend} %{time_total}\n' "${args[@]}" |
        awk '{ n[$1]++; if ($2 > 0.2) slow++ } END { printf "b1=%d b2=%d b3=%d   slow answers: %d of %d\n", n["b1"], n["b2"], n["b3"], slow, NR }'
}
demo_loop() {
    narrate "Lab 4: b1 answers after 300 ms, b2 and b3 at once. 60 requests, 8 at a time."
    while :; do
        narrate "round robin (:$LB_PORT):"; burst "$LB_PORT"
        narrate "least connections (:$LB2):"; burst "$LB2"
        narrate "rr gives b1 its third anyway; leastconn sees its in-flight pile and avoids it."
        pause; pause
    done
}
