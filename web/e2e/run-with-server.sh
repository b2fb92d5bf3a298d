#!/usr/bin/env bash
# Runs the end-to-end journey against a fresh `berth server`: builds the console if needed,
# starts the server on free ports with a temporary data directory, reads the admin key it
# prints on first start, runs web/e2e/journey.mjs, and stops the server.
#   web/e2e/run-with-server.sh [path/to/berth]      (default build/dev/berth)
# Screenshots go to docs/screenshots/ unless BERTH_E2E_SCREENSHOTS says otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/node-path.sh"
berth=$(realpath "${1:-$root/build/dev/berth}")
"$root/scripts/build-web.sh"
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "run-with-server: /usr/bin/chromium is missing (apt-get install -y chromium)" >&2
  exit 1
fi
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
http_port=$(free_port)
grpc_port=$(free_port)
while [ "$grpc_port" = "$http_port" ]; do grpc_port=$(free_port); done
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# The sanitizer build's probes and workers would fail on ONNX Runtime's own leaks.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$berth" server --data-dir "$tmp/data" \
  --http-port "$http_port" --grpc-port "$grpc_port" --console-dir "$root/web/dist" \
  --demo-model-dir "$root/models/demo/digits" >"$tmp/server.log" 2>&1 &
server_pid=$!
key=
for _ in $(seq 1 240); do
  key=$(grep -o -m1 'brth_[A-Za-z0-9_-]*' "$tmp/server.log" || true)
  if [ -n "$key" ] && curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$tmp/server.log" >&2; echo "run-with-server: berth server exited" >&2; exit 1; fi
  sleep 0.25
done
if [ -z "$key" ]; then cat "$tmp/server.log" >&2; echo "run-with-server: no admin key in the server's output" >&2; exit 1; fi
cd "$root/web"
status=0
BERTH_URL="http://127.0.0.1:$http_port" BERTH_ADMIN_KEY="$key" node e2e/journey.mjs || status=$?
if [ $status -ne 0 ]; then echo "--- server log (last 40 lines)" >&2; tail -40 "$tmp/server.log" >&2; fi
exit $status
