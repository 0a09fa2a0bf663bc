# demo.sh - lab 3 on a projector: steady GETs; b2 is killed by PID, then started again.
# shellcheck shell=bash disable=SC2034,SC2046 # sourced by labs/common/demo.sh, which reads these
demo_setup() {
    local -a health=()
    lb_has health-path && health=(--health-path /health --health-interval 500 --health-rise 2 --health-fall 2)
    start_backends
    # shellcheck disable=SC2046
    start_lb --retries 1 "${health[@]}" $(lb_backend_args)
}
demo_loop() {
    narrate "Lab 3: failures and health. Four GETs a second; watch the STATE column in lbtop."
    while :; do
        for i in $(seq 8); do curl -s -o /dev/null -w '%{http_code} %header{x-backend}   ' "$URL/whoami"; sleep 0.25; done; echo
        narrate "Killing b2 (pid $PID_b2): kill -KILL $PID_b2"
        kill -KILL "$PID_b2" 2>/dev/null
        for i in $(seq 24); do curl -s -o /dev/null -w '%{http_code} %header{x-backend}   ' "$URL/whoami"; sleep 0.25; done; echo
        narrate "No GET lost: lb tried the next backend. lbtrace showed a SYN answered by RST. Restarting b2."
        "$BIN/backend-sim" -p "127.0.0.1:$B2" --name b2 >/dev/null 2>&1 &
        PID_b2=$!
        echo "$PID_b2" >>"$OUT/extra.pids"
        for i in $(seq 32); do curl -s -o /dev/null -w '%{http_code} %header{x-backend}   ' "$URL/whoami"; sleep 0.25; done; echo
        narrate "b2 is back UP (after its rest, or after 2 good health checks)."
    done
}
