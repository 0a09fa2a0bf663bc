#!/usr/bin/env bash
# run.sh - the demo `make run` starts: three test backends on 3001-3003 (one backend-sim process)
# and lb on 3000 in the foreground. Ctrl-C stops them all, each by its PID.
# Usage: scripts/run.sh BIN_DIR [extra lb flags...]
set -uo pipefail
bin="${1:-bin}"
shift || true

for port in 3000 3001 3002 3003; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "lblab: port $port is already in use (an earlier 'make run'?); stop that first." >&2
        exit 1
    fi
done

pids=()
stop_all() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

"$bin/backend-sim" &
pids+=($!)
"$bin/lb" -l 3000 -b localhost:3001,name=b1 -b localhost:3002,name=b2 -b localhost:3003,name=b3 \
    --access-log - "$@" &
pids+=($!)

sleep 0.5
echo
echo "lblab is running: lb on :3000, backends b1 b2 b3 on :3001 :3002 :3003."
echo "Try:   curl -i localhost:3000/        (run it three times: b1, b2, b3)"
echo "Stop:  Ctrl-C"
echo
wait -n "${pids[@]}"
echo "lblab: a process exited; stopping the rest." >&2
exit 1
