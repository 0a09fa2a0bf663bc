# demo.sh - lab 1 on a projector (sourced by labs/common/demo.sh): backends that close after every
# answer, lb round robin, one request every two seconds on its own connection.
# shellcheck shell=bash disable=SC2034,SC2046 # sourced by labs/common/demo.sh, which reads these
demo_setup() {
    start_backends --keepalive-timeout 0
    # shellcheck disable=SC2046
    start_lb --policy rr $(lb_backend_args)
}
demo_loop() {
    narrate "Lab 1: one request, two TCP connections."
    narrate "Each curl opens a connection to lb; lb opens another to a backend (watch lbtrace)."
    local i=0
    while :; do
        i=$((i + 1))
        printf '\n$ curl -H "Connection: close" %s/whoami\n' "$URL"
        curl -s -H 'Connection: close' "$URL/whoami" | grep -E '^(Name|X-Forwarded-For|X-Request-ID):'
        [ $((i % 3)) -eq 0 ] && narrate "b1, b2, b3 in turn: lbtop's Requests column grows evenly."
        pause
    done
}
