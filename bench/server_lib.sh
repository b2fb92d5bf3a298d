# Sourced by the server benchmarks: a temporary directory and processes cleaned up on exit,
# small helpers, and start_berth_server, which starts `$BERTH server` on free ports and sets
# HTTP, GRPC, KEY (the admin key it prints) and the CLI's BERTH_SERVER / BERTH_API_KEY.
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
wait_200() {  # URL [curl args...]: polls until the URL answers 200
  local url=$1; shift
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")" = 200 ]; do :; done
}
bare_worker_ms() {  # MODEL_FILE NAME REQUEST_FILE DIR: prints a bare worker's start -> first 200, ms
  local model=$1 name=$2 req=$3 dir=$4 port t0 pid
  mkdir -p "$dir/$name/1" && cp "$model" "$dir/$name/1/model.onnx"
  port=$(free_port)
  t0=$(now_ms)
  "$BERTH" worker --model-repository "$dir" --http-port "$port" --grpc-port 0 >/dev/null 2>&1 &
  pid=$!
  wait_200 "http://127.0.0.1:$port/v2/models/$name/infer" -H 'Content-Type: application/json' \
    --data-binary @"$req"
  echo $(( $(now_ms) - t0 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
start_berth_server() {
  HTTP=$(free_port); GRPC=$(free_port)
  "$BERTH" server --data-dir "$TMP/data" --http-port "$HTTP" --grpc-port "$GRPC" \
    --demo-model-dir /nonexistent >"$TMP/server.log" 2>&1 &
  PIDS+=($!)
  until KEY=$(grep -so 'brth_[A-Za-z0-9]*' "$TMP/server.log" | head -1) && [ -n "$KEY" ]; do :; done
  export BERTH_SERVER=http://127.0.0.1:$HTTP BERTH_API_KEY=$KEY XDG_CONFIG_HOME=$TMP/config
}
