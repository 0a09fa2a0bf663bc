#!/usr/bin/env bash
# record.sh - records the captures shipped in labs/captures/ (run as root, or with lbtrace's
# capture rights): a small version of each lab's scenario, lb on :4000 and backends b1 b2 b3 on
# :4001-:4003, so that a student without capture rights answers the handouts' questions with
#     bin/lbtrace -r labs/captures/labN.pcap -p 4000 -B 4001,4002,4003
# Usage: labs/captures/record.sh [N...]   (default: every lab)
. "$(dirname "$0")/../common/lib.sh"
LB_PORT=4000 BACKEND_PORTS=4001,4002,4003
DEST=$LAB_ROOT/labs/captures

rec_begin() {
    OUT=$LAB_ROOT/labs/out/record-$1
    rm -rf "$OUT" && mkdir -p "$OUT" && : >"$OUT/results.tsv"
    choose_ports
    [ "$LB_PORT:$BPORTS" = "4000:4001,4002,4003" ] || die "ports 4000-4003 must be free to record"
    can_capture || die "$CAPTURE_WHY"
}
rec_capture() { capture_start "$1" || die "$CAPTURE_WHY"; }
rec_end() {
    capture_stop
    stop_all
    local f
    for f in "$@"; do cp "$OUT/$f.pcap" "$DEST/$f.pcap" && echo "recorded $DEST/$f.pcap ($(stat -c %s "$DEST/$f.pcap") bytes)"; done
}

lab1() { # nine requests, Connection: close, backends closing after each answer
    rec_begin 1
    start_backends --keepalive-timeout 0
    # shellcheck disable=SC2046
    start_lb --policy rr $(lb_backend_args)
    rec_capture lab1
    for i in $(seq 9); do curl -s -o /dev/null -H 'Connection: close' "$URL/whoami"; done
    rec_end lab1
}
lab2() { # six requests on one connection through -m http, then -m tcp
    rec_begin 2
    start_backends
    local u=$URL/whoami
    # shellcheck disable=SC2046
    start_lb -m http $(lb_backend_args)
    rec_capture lab2-http
    curl -s "$u" "$u" "$u" "$u" "$u" "$u" >/dev/null
    capture_stop
    stop_lb
    # shellcheck disable=SC2046
    start_lb -m tcp $(lb_backend_args)
    rec_capture lab2-tcp
    curl -s "$u" "$u" "$u" "$u" "$u" "$u" >/dev/null
    capture_stop
    if lb_has send-proxy; then # and the PROXY protocol: one GET through -m tcp with send-proxy
        stop_lb
        stop_pid "$PID_b1"; stop_pid "$PID_b2"; stop_pid "$PID_b3"
        wait_closed "$B1"; wait_closed "$B2"; wait_closed "$B3"
        start_backends --accept-proxy
        # shellcheck disable=SC2046
        start_lb -m tcp $(lb_backend_args send-proxy)
        rec_capture lab2-proxy
        curl -s "$u" >/dev/null
        rec_end lab2-http lab2-tcp lab2-proxy
    else
        rec_end lab2-http lab2-tcp
    fi
}
lab3() { # GET and POST /reset, then b2 killed: requests go on, a SYN meets an RST
    rec_begin 3
    start_backends
    # shellcheck disable=SC2046
    start_lb --retries 1 $(lb_backend_args)
    rec_capture lab3
    curl -s -o /dev/null "$URL/reset"
    curl -s -o /dev/null -X POST -d pay=100 "$URL/reset"
    kill -KILL "$PID_b2"
    wait "$PID_b2" 2>/dev/null
    for i in $(seq 6); do curl -s -o /dev/null -H 'Connection: close' "$URL/whoami"; done
    rec_end lab3
}
lab4() { # b1 slow: twelve requests, four at a time, under rr; then a 504
    rec_begin 4
    start_backend b1 "$B1" --latency 300
    start_backend b2 "$B2"
    start_backend b3 "$B3"
    # shellcheck disable=SC2046
    start_lb --policy rr --server-timeout 1000 --retries 0 $(lb_backend_args)
    rec_capture lab4
    local args=() i
    for i in $(seq 12); do args+=(-o /dev/null "$URL/whoami"); done
    curl -s --parallel --parallel-max 4 "${args[@]}" >/dev/null 2>&1
    curl -s -o /dev/null "$URL/delay/2000"
    rec_end lab4
}
lab5() { # pooling, a spoofed X-Forwarded-For, a smuggling probe, a sticky cookie, a small chunked body
    rec_begin 5
    start_backends --keepalive-timeout 1
    # shellcheck disable=SC2046
    start_lb --sticky-cookie LBSTICKY $(lb_backend_args)
    rec_capture lab5
    for i in $(seq 6); do curl -s -o /dev/null -H 'Connection: close' "$URL/whoami"; done
    curl -s -o /dev/null -H 'X-Forwarded-For: 6.6.6.6' "$URL/headers"
    exec 7<>"/dev/tcp/127.0.0.1/$LB_PORT"
    printf 'POST /smuggle-probe HTTP/1.1\r\nHost: lab5\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: lab5\r\n\r\n' >&7
    timeout 3 cat <&7 >/dev/null
    exec 7<&- 7>&-
    rm -f "$OUT/jar"
    for i in $(seq 3); do curl -s -o /dev/null -b "$OUT/jar" -c "$OUT/jar" "$URL/whoami"; done
    curl -s -o /dev/null "$URL/chunked/600?chunk=200"
    rec_end lab5
}

trap on_interrupt INT TERM HUP
trap stop_all EXIT
for n in "${@:-1 2 3 4 5}"; do for m in $n; do "lab$m"; done; done
