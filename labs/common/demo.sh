#!/usr/bin/env bash
# demo.sh - `make labN-demo`: a lab's scenario for a projector. Starts the lab's backends and lb
# (labs/labN/demo.sh says how), then opens tmux with lbtop in one pane, lbtrace in another (or,
# without capture rights, how to get it) and a narrated client loop in the third. F10 (or
# Ctrl-b d) ends the demo; everything started is then stopped by PID.
# Usage: labs/common/demo.sh N            (the loop pane runs: demo.sh --loop N)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "${1:-}" = --loop ]; then
    # Inside tmux: the narrated loop. The environment carries the ports and PIDs.
    . "$LAB_ROOT/labs/lab$2/demo.sh"
    narrate() { printf '\n\e[1;36m%s\e[0m\n' "$*"; }
    pause() { sleep "${DEMO_PAUSE:-2}"; }
    demo_loop
    narrate "The demo is over: press F10 to close it."
    sleep 3600
    exit 0
fi

n=${1:?usage: demo.sh LAB-NUMBER}
[ -f "$LAB_ROOT/labs/lab$n/demo.sh" ] || die "no demo for lab $n"
command -v tmux >/dev/null 2>&1 || die "the demo needs tmux (make deps-test installs it)"
[ -t 0 ] && [ -t 1 ] || die "the demo needs a terminal (run make lab$n-demo in one)"
. "$LAB_ROOT/labs/lab$n/demo.sh"

OUT=$LAB_ROOT/labs/out/lab$n-demo
rm -rf "$OUT" && mkdir -p "$OUT" && : >"$OUT/results.tsv"
trap on_interrupt INT TERM HUP
trap stop_all EXIT
LAB_DETACH=1 # the loop pane kills and restarts backends: no job notices from this shell
choose_ports
demo_setup
session="lblab-demo-$n-$$"

tracecmd="$BIN/lbtrace -p $LB_PORT -B $BPORTS --view l7"
if ! can_capture; then
    tracecmd="echo 'lbtrace needs capture rights: $CAPTURE_WHY'; echo; echo 'Meanwhile, the capture shipped with the lab:'; echo '  $BIN/lbtrace -r labs/captures/lab$n.pcap -p 4000 -B 4001,4002,4003'; echo; $BIN/lbtrace -r $LAB_ROOT/labs/captures/lab$n.pcap -p 4000 -B 4001,4002,4003 --view l7 2>&1 | head -40; sleep 3600"
fi
export LAB_ROOT BIN OUT LB_PORT B1 B2 B3 BPORTS URL DEMO_ENV="${DEMO_ENV:-}"
export PID_b1 PID_b2 PID_b3

# A tmux server of its own (-L): the demo's key bindings and options touch no other session.
sock="lblab-demo-$$"
T() { TMUX='' tmux -L "$sock" "$@"; }
T -f /dev/null new-session -d -s "$session" -x 200 -y 50 "$BIN/lbtop -p $LB_PORT -d 0.5" ||
    die "tmux could not start"
T set -g status-style 'bg=yellow,fg=black,bold'
T set -g status-left " lblab lab $n "
T set -g status-right-length 200
T set -g status-right " F10: end the demo | Ctrl-b o: next pane | Ctrl-b z: zoom a pane | lbtop: 1-6 views, ? help "
T set -g pane-border-status top
T set -g mouse on
T bind-key -n F10 kill-server
# lbtop on top, lbtrace under it, the narrated clients at the bottom; a second lbtop (when the
# lab runs a second lb) beside the first.
T select-pane -t "$session:0.0" -T "lbtop -p $LB_PORT: the statistics lb publishes"
T split-window -t "$session:0.0" -v -l 60% "$tracecmd"
T select-pane -T "lbtrace: both legs of each request, seen on the wire"
T split-window -v -l 50% "$here/demo.sh --loop $n"
T select-pane -T "the clients (narrated)"
if [ -n "${DEMO_EXTRA_PANE:-}" ]; then
    T split-window -t "$session:0.0" -h "$DEMO_EXTRA_PANE"
    T select-pane -T "${DEMO_EXTRA_TITLE:-}"
fi

cat <<TXT
lblab demo for lab $n: tmux opens now. Make the terminal font large (Ctrl and + in most terminals).
Keys: F10 ends the demo (so does Ctrl-b d); Ctrl-b o moves between panes; Ctrl-b z zooms one;
in lbtop 1-6 switch views and ? shows its help. Everything started is stopped when tmux closes.
TXT
sleep 2
# The end, however it comes: the tmux server (and with it lbtop, lbtrace and the loop), the
# processes the loop started (their PIDs in extra.pids), then ours.
demo_end() {
    trap - INT TERM HUP EXIT
    T kill-server 2>/dev/null
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock" # tmux leaves the socket of a killed server
    if [ -f "$OUT/extra.pids" ]; then
        while read -r p; do kill -TERM "$p" 2>/dev/null; done <"$OUT/extra.pids"
    fi
    stop_all
    echo "demo over; processes stopped."
}
trap 'demo_end; exit 130' INT TERM HUP
trap demo_end EXIT
T attach -t "$session" || true # F10 kills the server under the client: not an error
exit 0
