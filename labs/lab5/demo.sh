# demo.sh - lab 5 on a projector: what only a layer-7 balancer can do, and what it must refuse.
# shellcheck shell=bash disable=SC2034,SC2046 # sourced by labs/common/demo.sh, which reads these
demo_setup() {
    start_backends --keepalive-timeout 1
    # shellcheck disable=SC2046
    start_lb --sticky-cookie LBSTICKY $(lb_backend_args)
}
demo_loop() {
    narrate "Lab 5: the power and danger of layer 7."
    while :; do
        narrate "Pooling: 10 client connections; lbtop's Conns opened hardly moves."
        for i in $(seq 10); do curl -s -o /dev/null -H 'Connection: close' "$URL/"; done
        pause
        narrate "A spoofed X-Forwarded-For: the backend sees the claim AND the real address."
        curl -s -H 'X-Forwarded-For: 6.6.6.6' "$URL/headers" | grep -io '"x-forwarded-for":"[^"]*"'
        pause
        narrate "A smuggling probe (Content-Length and Transfer-Encoding): refused with 400."
        exec 7<>"/dev/tcp/127.0.0.1/$LB_PORT"
        printf 'POST /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' >&7
        timeout 3 head -1 <&7
        exec 7<&- 7>&-
        pause
        narrate "Sticky sessions: a cookie pins the client."
        rm -f "$OUT/jar"
        for i in $(seq 4); do curl -s -o /dev/null -b "$OUT/jar" -c "$OUT/jar" -w '%header{x-backend} ' "$URL/whoami"; done; echo
        pause; pause
    done
}
