# lib.sh - the grading library every labs/labN/grade.sh sources.
#
# A grader is a story told in steps: it starts backend-sim and lb on loopback, drives traffic with
# curl, and then checks what happened from evidence the programs leave behind (lbtop --json,
# lbtrace --json, backend-sim's JSON log, lb's access log, what the client saw). This file gives
# it the pieces: narration (step, watch), checks (pass, fail, skip, each with its evidence), the
# processes it starts (stopped by PID at the end, also on Ctrl-C), free ports when the usual ones
# are taken, packet capture when this user may capture, and the final `Score: x/y`.
#
# Everything a run produces stays in labs/out/labN/: transcript.txt (all that was printed),
# backends.log (backend-sim, one JSON line per request), access.log (lb), lb.err, *.pcap and
# *.trace.json (lbtrace), lbtop-*.json (snapshots), results.tsv (one line per check).
#
# Knobs (environment): LB_PORT, BACKEND_PORTS (comma list of three; default 3000 and
# 3001,3002,3003; LAB_PORTS=auto picks free ports from the start), LBLAB_BIN (the programs;
# default bin/), LAB_LB_EXTRA (words appended to every lb command line: the graders' own tests
# use it to break a setup on purpose), LAB_CAPTURE=0 (never capture), LAB_OUT (output directory).

# shellcheck shell=bash disable=SC2034 # URL, B1.. are set here for the graders that source this
set -uo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${LBLAB_BIN:-$LAB_ROOT/bin}
LAB_PIDS=()
PID_b1='' PID_b2='' PID_b3='' # set by start_backend
LAB_PASS=0
LAB_FAIL=0
LAB_SKIP=0
LAB_STEP=0

# --- output ------------------------------------------------------------------------------------

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    C_PASS=$'\e[1;32m' C_FAIL=$'\e[1;31m' C_SKIP=$'\e[1;33m' C_STEP=$'\e[1;36m' C_OFF=$'\e[0m'
else
    C_PASS='' C_FAIL='' C_SKIP='' C_STEP='' C_OFF=''
fi

# step TEXT: announce what the grader is about to do.
step() {
    LAB_STEP=$((LAB_STEP + 1))
    printf '\n%s== Step %d: %s%s\n' "$C_STEP" "$LAB_STEP" "$*" "$C_OFF"
}
# say TEXT: narration inside a step.
say() { printf '   %s\n' "$*"; }
# watch TEXT: what to look at in lbtop or lbtrace while this happens, and why.
watch() { printf '   watch: %s\n' "$*"; }
# run CMD...: show a command, then run it (its output goes to the transcript too).
run() {
    printf '   $ %s\n' "$*"
    "$@"
}

# pass NAME EVIDENCE / fail NAME EVIDENCE / skip NAME REASON: one check's result.
pass() {
    LAB_PASS=$((LAB_PASS + 1))
    printf '%sPASS%s %s: %s\n' "$C_PASS" "$C_OFF" "$1" "$2"
    printf 'PASS\t%s\t%s\n' "$1" "$2" >>"$OUT/results.tsv"
}
fail() {
    LAB_FAIL=$((LAB_FAIL + 1))
    printf '%sFAIL%s %s: %s\n' "$C_FAIL" "$C_OFF" "$1" "$2"
    printf 'FAIL\t%s\t%s\n' "$1" "$2" >>"$OUT/results.tsv"
}
skip() {
    LAB_SKIP=$((LAB_SKIP + 1))
    printf '%sSKIP%s %s: %s\n' "$C_SKIP" "$C_OFF" "$1" "$2"
    printf 'SKIP\t%s\t%s\n' "$1" "$2" >>"$OUT/results.tsv"
}
# check NAME CONDITION-EXIT-STATUS EVIDENCE: pass when the status is 0, fail otherwise.
check() {
    if [ "$2" -eq 0 ]; then pass "$1" "$3"; else fail "$1" "$3"; fi
}

die() {
    printf 'lab: %s\n' "$*" >&2
    exit 2
}

# --- processes ---------------------------------------------------------------------------------

# track PID: stop this process when the lab ends.
track() { LAB_PIDS+=("$1"); }

# stop_pid PID: TERM, up to 3 s to exit, then KILL. Only processes this lab started.
stop_pid() {
    local pid=$1 i
    if ! kill -TERM "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null # already gone (killed by the lab itself): reap it quietly
        return 0
    fi
    for i in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

stop_all() {
    local i
    for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${LAB_PIDS[$i]}"; done
    LAB_PIDS=()
}

on_interrupt() {
    trap - INT TERM HUP
    printf '\nlab: interrupted; stopping what this lab started (PIDs %s)\n' "${LAB_PIDS[*]:-none}"
    stop_all
    if [ -n "${LAB_TEE_PID:-}" ]; then # let the transcript's tee write the last lines and end
        exec >&- 2>&-
        wait "$LAB_TEE_PID" 2>/dev/null
    fi
    exit 130
}

# --- ports -------------------------------------------------------------------------------------

# port_owner PORT: who listens on PORT ("" when nobody).
port_owner() {
    local line
    line=$(ss -Htlnp "sport = :$1" 2>/dev/null | head -1)
    [ -z "$line" ] && return 0
    if [[ $line =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
        printf '%s (pid %s)' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
        printf 'another process'
    fi
}

port_taken() {
    [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ] && return 0
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a loopback port nobody uses, not one this lab already chose. Below the ephemeral
# range (ip_local_port_range, usually from 32768), so no outgoing connection holds it already.
free_port() {
    local p lo
    lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    lo=${lo:-32768}
    [ "$lo" -gt 12000 ] || lo=32768
    while :; do
        p=$((10000 + RANDOM % (lo - 10000)))
        [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && continue
        [[ " ${LAB_CHOSEN_PORTS:-} " == *" $p "* ]] && continue
        port_taken "$p" || break
    done
    LAB_CHOSEN_PORTS="${LAB_CHOSEN_PORTS:-} $p"
    echo "$p"
}

# choose_ports: LB_PORT and B1..B3 (and BPORTS, "B1,B2,B3"); a taken port is named and replaced.
choose_ports() {
    local want_lb=${LB_PORT:-3000} want_b=${BACKEND_PORTS:-3001,3002,3003} p owner i
    local -a wb
    IFS=, read -r -a wb <<<"$want_b"
    [ ${#wb[@]} -eq 3 ] || die "BACKEND_PORTS must name three ports (it is '$want_b')"
    if [ "${LAB_PORTS:-}" = auto ]; then
        want_lb=$(free_port)
        for i in 0 1 2; do wb[$i]=$(free_port); done
    fi
    for i in lb 0 1 2; do
        if [ "$i" = lb ]; then p=$want_lb; else p=${wb[$i]}; fi
        if port_taken "$p"; then
            owner=$(port_owner "$p")
            local np
            np=$(free_port)
            say "port $p is taken by ${owner:-a process this user cannot see}; using $np instead"
            p=$np
        else
            LAB_CHOSEN_PORTS="${LAB_CHOSEN_PORTS:-} $p"
        fi
        if [ "$i" = lb ]; then LB_PORT=$p; else wb[$i]=$p; fi
    done
    B1=${wb[0]} B2=${wb[1]} B3=${wb[2]}
    BPORTS="$B1,$B2,$B3"
    URL="http://127.0.0.1:$LB_PORT"
}

# wait_port PORT [TENTHS]: until something accepts on 127.0.0.1:PORT (default 5 s).
wait_port() {
    local i
    for i in $(seq "${2:-50}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_closed PORT: until nothing accepts on it any more.
wait_closed() {
    local i
    for i in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# --- the programs ------------------------------------------------------------------------------

# start_backend NAME PORT [backend-sim options...]: one backend-sim process for one backend, so
# that one can be killed alone. Sets PID_<NAME>. All log to $OUT/backends.log.
start_backend() {
    local name=$1 port=$2
    shift 2
    local pid
    if [ -n "${LAB_DETACH:-}" ]; then
        # Not a child of this shell (started by a short-lived one), so when another process kills
        # it no "Killed" notice from this shell lands on the screen; stopped by PID all the same.
        pid=$(bash -c '"$@" >>"$0" 2>&1 </dev/null & echo $!' "$OUT/backends.out" \
            "$BIN/backend-sim" -p "127.0.0.1:$port" --name "$name" --log "$OUT/backends.log" "$@")
    else
        "$BIN/backend-sim" -p "127.0.0.1:$port" --name "$name" --log "$OUT/backends.log" "$@" \
            >>"$OUT/backends.out" 2>&1 &
        pid=$!
    fi
    track "$pid"
    printf -v "PID_$name" '%s' "$pid"
    wait_port "$port" || die "backend-sim $name did not start on port $port (see $OUT/backends.out)"
}

# start_backends [options...]: b1 b2 b3 on B1 B2 B3.
start_backends() {
    start_backend b1 "$B1" "$@"
    start_backend b2 "$B2" "$@"
    start_backend b3 "$B3" "$@"
    say "backends: b1 on :$B1 (pid $PID_b1), b2 on :$B2 (pid $PID_b2), b3 on :$B3 (pid $PID_b3)"
}

# lb_backend_args [OPTION]: the three -b arguments, each with name= and OPTION appended.
lb_backend_args() {
    local opt=${1:+,$1}
    echo "-b 127.0.0.1:$B1,name=b1$opt -b 127.0.0.1:$B2,name=b2$opt -b 127.0.0.1:$B3,name=b3$opt"
}

# start_lb [lb options...]: lb on 127.0.0.1:LB_PORT in front of b1 b2 b3 (add your own -b to
# change them), access log in $OUT/access.log. LAB_LB_EXTRA comes last. Sets LB_PID.
start_lb() {
    local -a args extra
    read -r -a extra <<<"${LAB_LB_EXTRA:-}"
    args=(-l "127.0.0.1:$LB_PORT" -w 2 --access-log "$OUT/access.log" "$@" "${extra[@]}")
    printf '   $ lb %s\n' "${args[*]}"
    printf '\n# lb %s\n' "${args[*]}" >>"$OUT/lb.err"
    local before i
    before=$(grep -c 'listening on' "$OUT/lb.err")
    "$BIN/lb" "${args[@]}" 2>>"$OUT/lb.err" &
    LB_PID=$!
    track "$LB_PID"
    # Wait for lb to say it listens, not by connecting: in tcp mode a probe connection would
    # take a backend's turn and count in the statistics.
    for i in $(seq 50); do
        [ "$(grep -c 'listening on' "$OUT/lb.err")" -gt "$before" ] && break
        kill -0 "$LB_PID" 2>/dev/null || die "lb exited at start (see $OUT/lb.err)"
        sleep 0.1
    done
    say "lb is running (pid $LB_PID)"
    for i in $(seq 30); do
        "$BIN/lbtop" -p "$LB_PORT" --json >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "lb publishes no statistics (see $OUT/lb.err)"
}

stop_lb() {
    stop_pid "$LB_PID"
    wait_closed "$LB_PORT"
}

# snapshot NAME: lbtop --json into $OUT/lbtop-NAME.json; prints the path.
snapshot() {
    "$BIN/lbtop" -p "$LB_PORT" --json >"$OUT/lbtop-$1.json" 2>>"$OUT/lbtop.err"
    echo "$OUT/lbtop-$1.json"
}

# lb_has FLAG: this lb's -h names FLAG (features still being built are detected, not assumed).
# (The help is read whole before grep looks at it: piped into grep -q, which exits at the first
# match, a help longer than one pipe write could get SIGPIPE and, under pipefail, make the answer
# "no" by chance.)
lb_has() { grep -q -- "$1" <<<"$("$BIN/lb" -h 2>&1)"; }
sim_has() { grep -q -- "$1" <<<"$("$BIN/backend-sim" -h 2>&1)"; }

# --- capture -----------------------------------------------------------------------------------

# can_capture: sets CAPTURE_WHY to the reason when this user may not capture.
can_capture() {
    CAPTURE_ENABLE="sudo setcap cap_net_raw,cap_net_admin+ep $BIN/lbtrace  (or run the lab as root: sudo make lab${LAB_N:-N})"
    if [ "${LAB_CAPTURE:-1}" = 0 ]; then
        CAPTURE_WHY="capture turned off (LAB_CAPTURE=0)"
        return 1
    fi
    if [ "$(id -u)" -eq 0 ]; then return 0; fi
    if command -v getcap >/dev/null 2>&1 && getcap "$BIN/lbtrace" 2>/dev/null | grep -q cap_net_raw; then
        return 0
    fi
    CAPTURE_WHY="no capture rights (not root, and $BIN/lbtrace lacks CAP_NET_RAW); enable with: $CAPTURE_ENABLE"
    return 1
}

# capture_start NAME: lbtrace on lo into $OUT/NAME.pcap and $OUT/NAME.trace.json. Returns 1 (with
# CAPTURE_WHY) when it cannot capture; the checks that need it then SKIP.
capture_start() {
    CAPTURE_PID=
    can_capture || return 1
    local name=$1
    : >"$OUT/$name.trace.err"
    "$BIN/lbtrace" -i lo -p "$LB_PORT" -B "$BPORTS" --json -w "$OUT/$name.pcap" \
        >"$OUT/$name.trace.json" 2>"$OUT/$name.trace.err" &
    CAPTURE_PID=$!
    track "$CAPTURE_PID"
    local i
    for i in $(seq 50); do
        grep -q 'capturing on' "$OUT/$name.trace.err" && { sleep 0.2; return 0; }
        if ! kill -0 "$CAPTURE_PID" 2>/dev/null; then
            CAPTURE_WHY="lbtrace could not capture: $(tr '\n' ' ' <"$OUT/$name.trace.err"); enable with: $CAPTURE_ENABLE"
            CAPTURE_PID=
            return 1
        fi
        sleep 0.1
    done
    CAPTURE_WHY="lbtrace did not start capturing within 5 s"
    stop_pid "$CAPTURE_PID"
    CAPTURE_PID=
    return 1
}

# capture_stop: let the last packets arrive, stop lbtrace (it writes its summary and the file).
capture_stop() {
    [ -n "${CAPTURE_PID:-}" ] || return 0
    sleep 0.5
    kill -INT "$CAPTURE_PID" 2>/dev/null
    local i
    for i in $(seq 50); do
        kill -0 "$CAPTURE_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$CAPTURE_PID"
}

# segments NAME: the capture's TCP segments, one JSON object a line (lbtrace -r --view l4 --json).
segments() {
    "$BIN/lbtrace" -r "$OUT/$1.pcap" -p "$LB_PORT" -B "$BPORTS" --view l4 --json 2>/dev/null |
        jq -c 'select(.type == "segment")'
}

# --- evidence helpers --------------------------------------------------------------------------

# sim_log [JQ-FILTER]: backend-sim's log lines (compact JSON), optionally filtered.
sim_log() { jq -c "${1:-.}" "$OUT/backends.log" 2>/dev/null; }

# count_by_backend FILE-OR-STDIN: "b1=N b2=N b3=N" from lines naming a backend (one a line).
count_names() {
    local s a b c
    s=$(cat)
    a=$(grep -cx b1 <<<"$s")
    b=$(grep -cx b2 <<<"$s")
    c=$(grep -cx b3 <<<"$s")
    echo "b1=$a b2=$b b3=$c"
}

# percentile P FILE: the P-th percentile of the numbers in FILE (one a line).
percentile() {
    sort -g "$2" | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
        i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}

# --- start and end -----------------------------------------------------------------------------

# lab_begin N TITLE: output directory, transcript, traps, tools, ports, binaries.
lab_begin() {
    LAB_N=$1
    shift
    LAB_TITLE=$*
    OUT=${LAB_OUT:-$LAB_ROOT/labs/out/lab$LAB_N}
    rm -rf "$OUT"
    mkdir -p "$OUT" || die "cannot create $OUT"
    : >"$OUT/results.tsv"
    exec > >(tee -i "$OUT/transcript.txt") 2>&1
    LAB_TEE_PID=$!
    trap on_interrupt INT TERM HUP
    trap stop_all EXIT
    printf '%s# Lab %s: %s%s\n' "$C_STEP" "$LAB_N" "$LAB_TITLE" "$C_OFF"
    printf '  (%s; transcript, logs and captures in %s)\n' "$(date -u +%FT%TZ)" "${OUT#"$LAB_ROOT"/}"
    local t
    for t in curl jq ss; do
        command -v "$t" >/dev/null 2>&1 || die "this lab needs '$t' (make deps-test installs it)"
    done
    for t in lb backend-sim lbtop lbtrace; do
        [ -x "$BIN/$t" ] || die "$BIN/$t is missing: run make first"
    done
    choose_ports
    say "lb will listen on :$LB_PORT, backends b1 b2 b3 on :$B1 :$B2 :$B3"
    [ -n "${LAB_LB_EXTRA:-}" ] && say "LAB_LB_EXTRA='$LAB_LB_EXTRA' is appended to every lb command"
    if can_capture; then
        say "packet capture: available (lbtrace will record each step)"
    else
        say "packet capture: not available, the checks that need it will SKIP: $CAPTURE_WHY"
    fi
}

# lab_end: stop everything, print the score, exit 1 when a check failed.
lab_end() {
    stop_all
    local total=$((LAB_PASS + LAB_FAIL + LAB_SKIP))
    printf '\n'
    printf 'Score: %d/%d' "$LAB_PASS" "$total"
    [ "$LAB_SKIP" -gt 0 ] && printf '  (%d skipped)' "$LAB_SKIP"
    [ "$LAB_FAIL" -gt 0 ] && printf '  (%d failed)' "$LAB_FAIL"
    printf '\n'
    printf 'lab%s\t%d\t%d\t%d\t%d\n' "$LAB_N" "$LAB_PASS" "$LAB_FAIL" "$LAB_SKIP" "$total" >"$OUT/score.tsv"
    printf 'Output of this run: %s\n' "${OUT#"$LAB_ROOT"/}"
    trap - EXIT INT TERM HUP
    exec >&- 2>&-
    wait "$LAB_TEE_PID" 2>/dev/null
    [ "$LAB_FAIL" -eq 0 ]
    exit $?
}
