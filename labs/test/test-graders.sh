#!/usr/bin/env bash
# test-graders.sh - `make test-labs`: tests the graders themselves. Each lab's grader runs once as
# it is (no check may FAIL; SKIPs are allowed, since capture works only with capture rights) and
# once against a setup broken on purpose, where the check aimed at that fault must FAIL and the
# grader must exit non-zero. Also: a taken port is named and replaced, Ctrl-C stops every process
# a grader started, and without capture rights the capture checks SKIP naming the command that
# enables them. Free ports only (never 3000-3003); about a minute in all.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export LBLAB_BIN=${LBLAB_BIN:-$root/bin}
export LAB_PORTS=auto NO_COLOR=1
work=$(mktemp -d "${TMPDIR:-/tmp}/lblab-test-labs.XXXXXX")
failures=()
trap 'rm -rf "$work"' EXIT

ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s: %s\n' "$1" "$2"; failures+=("$1"); }

# grade NAME LAB [VAR=VALUE...]: run lab LAB's grader into $work/NAME; its exit status in $rc.
grade() {
    local name=$1 lab=$2
    shift 2
    env LAB_OUT="$work/$name" "$@" "$root/labs/lab$lab/grade.sh" >"$work/$name.out" 2>&1
    rc=$?
}

# expect_clean NAME LAB: the grader as it is: exit 0, no FAIL, a Score line, every check named.
expect_clean() {
    grade "$1" "$2"
    local fails
    fails=$(grep -c '^FAIL' "$work/$1/results.tsv" 2>/dev/null)
    if [ $rc -eq 0 ] && [ "$fails" = 0 ] && grep -q '^Score: ' "$work/$1.out"; then
        ok "$1: $(grep '^Score: ' "$work/$1.out")"
    else
        bad "$1" "exit $rc, $fails failed checks"
        sed 's/^/    /' "$work/$1.out" | tail -30
    fi
}

# expect_fail NAME LAB CHECK LB_EXTRA: with LAB_LB_EXTRA=LB_EXTRA the check CHECK must FAIL.
expect_fail() {
    grade "$1" "$2" LAB_CAPTURE=0 "LAB_LB_EXTRA=$4"
    if [ $rc -ne 0 ] && grep -q "^FAIL	$3	" "$work/$1/results.tsv" 2>/dev/null; then
        ok "$1: lb $4 -> $(grep "^FAIL $3:" "$work/$1.out" | cut -c1-150)"
    else
        bad "$1" "with lb $4, want $3 to FAIL and the grader to exit non-zero (exit $rc)"
        sed 's/^/    /' "$work/$1.out" | grep -E '^    (PASS|FAIL|SKIP|Score)'
    fi
}

# A taken port: occupy a port with a backend-sim, ask lab 1 for it, expect it named and replaced.
busy=$((10000 + RANDOM % 20000))
"$LBLAB_BIN/backend-sim" -p "127.0.0.1:$busy" --name squatter >/dev/null 2>&1 &
squatter=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$busy") 2>/dev/null && break; sleep 0.1; done
LAB_PORTS= LB_PORT=$busy BACKEND_PORTS=$((busy + 1)),$((busy + 2)),$((busy + 3)) expect_clean lab1 1
if grep -q "port $busy is taken by backend-sim (pid $squatter); using [0-9]* instead" "$work/lab1.out"; then
    ok "lab1: a taken port is named with its owner and replaced"
else
    bad lab1-port "no 'port $busy is taken by backend-sim (pid $squatter)' line"
fi
kill "$squatter"
wait "$squatter" 2>/dev/null

expect_fail lab1-l4 1 lab1.x-forwarded-for "-m tcp"
expect_fail lab1-policy 1 lab1.rotation "--policy iphash"
expect_clean lab2 2
expect_fail lab2-l4 2 lab2.http-split "-m tcp"
expect_fail lab2-nosplice 2 lab2.splice "--no-splice"
expect_clean lab3 3
expect_fail lab3-noretry 3 lab3.get-retried "--retries 0"
expect_clean lab4 4
expect_fail lab4-policy 4 lab4.leastconn-share "--policy rr"
expect_clean lab5 5
expect_fail lab5-policy 5 lab5.sticky "--policy iphash"

# Without capture rights, capture checks SKIP and name the command that enables them.
msg=$(bash -c '. "$1/labs/common/lib.sh"; id() { echo 1000; }; getcap() { :; }; can_capture || echo "$CAPTURE_WHY"' _ "$root")
if [[ $msg == *"setcap cap_net_raw,cap_net_admin+ep"*"lbtrace"* ]]; then
    ok "no capture rights: the SKIP reason names: ${msg##*enable with: }"
else
    bad capture-skip "reason was: $msg"
fi

# Ctrl-C: interrupt lab 3 after it has started its processes; none of them may survive.
set -m
LAB_OUT="$work/lab3-int" LAB_CAPTURE=0 "$root/labs/lab3/grade.sh" >"$work/lab3-int.out" 2>&1 &
g=$!
set +m
for _ in $(seq 100); do grep -q 'Step 2' "$work/lab3-int.out" 2>/dev/null && break; sleep 0.1; done
pids=$(grep -o 'pid [0-9]*' "$work/lab3-int.out" | awk '{ print $2 }' | sort -u)
lbpid=$(ps -o pid= --ppid "$g" 2>/dev/null | tr '\n' ' ')
kill -INT "$g"
wait "$g"
rc=$?
alive=""
for _ in $(seq 30); do # up to 3 s for the last of them to be reaped
    alive=""
    for p in $pids $lbpid; do
        [ "$p" = "$g" ] && continue
        kill -0 "$p" 2>/dev/null && alive+=" $p ($(ps -o comm= -p "$p"))"
    done
    [ -z "$alive" ] && break
    sleep 0.1
done
if [ $rc -eq 130 ] && [ -n "$pids" ] && [ -z "$alive" ] && grep -q 'interrupted; stopping' "$work/lab3-int.out"; then
    ok "Ctrl-C: lab 3 exited 130 and stopped the processes it started (pids$(printf " %s" $(echo $pids $lbpid | tr " " "\n" | sort -un)))"
else
    bad ctrl-c "exit $rc, still alive:${alive:- none}, started: $(echo $pids)"
fi

echo
if [ ${#failures[@]} -ne 0 ]; then
    echo "test-labs: ${#failures[@]} failed: ${failures[*]} (outputs in $work, kept)"
    trap - EXIT
    exit 1
fi
echo "test-labs: all grader tests passed"
