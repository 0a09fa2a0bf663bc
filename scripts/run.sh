#!/usr/bin/env bash
# run.sh - the demo `make run` starts: three test backends on 3001-3003 (one backend-sim process)
# and lb on 3000 in the foreground, all on 127.0.0.1 only, with HTTPS on 3443 (a self-signed
# certificate for localhost, made once under the build directory, which git ignores). Ctrl-C stops
# them all, each by its PID.
# Usage: [LBLAB_BUILD=DIR] scripts/run.sh BIN_DIR [extra lb flags...]
set -uo pipefail
bin="${1:-bin}"
shift || true

script_name=lblab
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
trap 'exit 0' INT TERM # Ctrl-C is how the demo ends: stop_all runs on exit

for port in 3000 3001 3002 3003 3443; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use (an earlier 'make run'?); stop that first."
    fi
done

# the demo certificate: made once, reused by every later run (curl -k accepts it)
tls_dir="${LBLAB_BUILD:-build}/tls"
if [ ! -s "$tls_dir/localhost.pem" ] || [ ! -s "$tls_dir/localhost-key.pem" ]; then
    mkdir -p "$tls_dir" || die "cannot create $tls_dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 \
        -keyout "$tls_dir/localhost-key.pem" -out "$tls_dir/localhost.pem" 2>/dev/null ||
        die "openssl could not make a certificate in $tls_dir"
fi

"$bin/backend-sim" -p 127.0.0.1:3001 -p 127.0.0.1:3002 -p 127.0.0.1:3003 --name b1,b2,b3 &
pids+=("$!")
"$bin/lb" -l 127.0.0.1:3000 -b 127.0.0.1:3001,name=b1 -b 127.0.0.1:3002,name=b2 \
    -b 127.0.0.1:3003,name=b3 --tls-cert "$tls_dir/localhost.pem" \
    --tls-key "$tls_dir/localhost-key.pem" --tls-listen 127.0.0.1:3443 --access-log - "$@" &
pids+=("$!")

sleep 0.5
echo
echo "lblab is running: lb on :3000 (HTTPS on :3443), backends b1 b2 b3 on :3001 :3002 :3003."
echo "Try:   curl -i localhost:3000/        (run it three times: b1, b2, b3)"
echo "       curl -ik https://localhost:3443/  (TLS ends at lb; -k: the certificate is self-signed)"
echo "Stop:  Ctrl-C"
echo
wait -n "${pids[@]}"
echo "lblab: a process exited; stopping the rest." >&2
exit 1
