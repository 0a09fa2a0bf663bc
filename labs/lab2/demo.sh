# demo.sh - lab 2 on a projector: the same backends behind lb -m http (lbtop and lbtrace watch it)
# and lb -m tcp (the extra pane); six requests on one connection to each in turn.
# shellcheck shell=bash disable=SC2034,SC2046 # sourced by labs/common/demo.sh, which reads these
demo_setup() {
    start_backends
    # shellcheck disable=SC2046
    start_lb -m http $(lb_backend_args)
    LB4=$(free_port)
    "$BIN/lb" -m tcp -l "127.0.0.1:$LB4" -w 2 $(lb_backend_args) 2>>"$OUT/lb4.err" &
    track $!
    wait_port "$LB4" || true
    export LB4
    DEMO_EXTRA_PANE="$BIN/lbtop -p $LB4 -d 0.5"
    DEMO_EXTRA_TITLE="lbtop for lb -m tcp on :$LB4"
}
demo_loop() {
    narrate "Lab 2: per request (L7, :$LB_PORT) against per connection (L4, :$LB4)."
    while :; do
        narrate "Six requests on ONE connection through lb -m http:"
        printf '$ curl -s %s/whoami x6\n' "$URL"
        curl -s "$URL/whoami" "$URL/whoami" "$URL/whoami" "$URL/whoami" "$URL/whoami" "$URL/whoami" | grep '^Name:' | tr '\n' ' '
        echo
        narrate "Each request scheduled on its own: b1 b2 b3 b1 b2 b3."
        pause
        narrate "The same through lb -m tcp:"
        printf '$ curl -s http://127.0.0.1:%s/whoami x6\n' "$LB4"
        u="http://127.0.0.1:$LB4/whoami"
        curl -s "$u" "$u" "$u" "$u" "$u" "$u" | grep '^Name:' | tr '\n' ' '
        echo
        narrate "One connection, one backend: all six on it. And X-Forwarded-For?"
        printf 'http: %s\n' "$(curl -s "$URL/whoami" | grep -c X-Forwarded-For) header(s)"
        printf 'tcp:  %s\n' "$(curl -s "$u" | grep -c X-Forwarded-For) header(s)"
        pause
        narrate "An 8 MiB body through each: watch the splice line in both lbtops."
        curl -s -o /dev/null "$URL/bytes/8388608"
        curl -s -o /dev/null "http://127.0.0.1:$LB4/bytes/8388608"
        printf 'spliced so far: http %s bytes, tcp %s bytes\n' \
            "$("$BIN/lbtop" -p "$LB_PORT" --json | jq .lb.splice.bytes)" \
            "$("$BIN/lbtop" -p "$LB4" --json | jq .lb.splice.bytes)"
        narrate "Both hand the body to the kernel (splice): layer 7 once the head gave its length."
        pause; pause
    done
}
