#!/usr/bin/env bash
# Benchmarks of `berth server` (issue: server + CLI), each with a baseline measured in the same
# run on the same machine:
#   (1) deploy to first prediction: `berth deploy model.onnx` (upload, probe, revision, replica
#       start) to the first 200 through the gateway, MobileNetV2, median of N; baseline: a bare
#       `berth worker` started on the same model, to its first 200 (the engine's own cold start).
#   (3) gateway overhead: the same small-model load (add_sub, HTTP JSON, wrk) through the
#       gateway, straight to the worker, and through Debian's nginx (proxy_pass, keep-alive
#       upstream) in front of the worker. Each run also reports CPU time per request of the
#       proxy in front (gateway or nginx, all its processes) and of the worker behind it, from
#       /proc/PID/stat (utime + stime) before and after: the client shares the machine's cores,
#       so throughput alone says little about what a proxy costs.
# Needs a release build (cmake --preset release && cmake --build --preset release), wrk, nginx.
# Env: BERTH_BIN (default build/release/berth), BERTH_BENCH_RUNS (default 10),
# BERTH_BENCH_SECONDS (default 10), BERTH_BENCH_CONNECTIONS (default 8).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
RUNS=${BERTH_BENCH_RUNS:-10}
SECONDS_RUN=${BERTH_BENCH_SECONDS:-10}
CONNS=${BERTH_BENCH_CONNECTIONS:-8}
MODELS=$ROOT/bench/models
if [[ ! -f $MODELS/mobilenet_v2/1/model.onnx || ! -f $MODELS/add_sub/1/model.onnx ]]; then
  /usr/bin/python3 "$ROOT/scripts/gen_models.py" --out "$MODELS" --bench --only mobilenet_v2,add_sub >/dev/null
fi
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

start_berth_server
MODEL=$MODELS/mobilenet_v2/1/model.onnx
REQ=$TMP/mobilenet.json
python3 - "$REQ" <<'PY'
import json, sys
json.dump({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 224, 224],
                       "data": [0.0] * (3 * 224 * 224)}]}, open(sys.argv[1], "w"))
PY
INPUT=$(/usr/bin/python3 -c "import onnx,sys; m=onnx.load('$MODEL', load_external_data=False); print(m.graph.input[0].name)")
sed -i "s/\"name\": \"input\"/\"name\": \"$INPUT\"/" "$REQ"

echo "== (1) deploy to first prediction: MobileNetV2 ($(du -h "$MODEL" | cut -f1)), median of $RUNS"
deploy_ms=(); worker_ms=()
for i in $(seq 1 "$RUNS"); do
  cp "$MODEL" "$TMP/m$i.onnx"
  t0=$(now_ms)
  "$BERTH" deploy "$TMP/m$i.onnx" --name "mnv2-$i" --no-wait >/dev/null
  wait_200 "$BERTH_SERVER/v2/models/mnv2-$i/infer" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary @"$REQ"
  deploy_ms+=($(( $(now_ms) - t0 )))
  "$BERTH" delete "mnv2-$i" >/dev/null
  # Baseline: a bare worker on the same model, to its first 200.
  worker_ms+=($(bare_worker_ms "$MODEL" mnv2 "$REQ" "$TMP/repo$i"))
done
D=$(printf '%s\n' "${deploy_ms[@]}" | median); W=$(printf '%s\n' "${worker_ms[@]}" | median)
echo "  berth deploy -> first 200: median ${D} ms  (runs: ${deploy_ms[*]})"
echo "  bare worker start -> first 200: median ${W} ms  (runs: ${worker_ms[*]})"
echo "  ratio deploy/bare worker: $(python3 -c "print(round($D/$W, 2))")"

echo "== (3) gateway overhead: add_sub HTTP JSON, wrk ${CONNS} connections, ${SECONDS_RUN} s"
"$BERTH" deploy "$MODELS/add_sub/1/model.onnx" --name addsub >/dev/null
WORKER_PORT=$(python3 - "$TMP/data" <<'PY'
import glob, json, sys
print(json.load(open(glob.glob(sys.argv[1] + "/replicas/addsub-*/ports.json")[0]))["http_port"])
PY
)
REPLICA_ID=$(basename "$(dirname "$(ls "$TMP"/data/replicas/addsub-*/ports.json | head -1)")")
WORKER_PID=$(pgrep -f -- "--replica-id $REPLICA_ID" | head -1)
SERVER_PID=${PIDS[0]}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {  # PID...: their utime + stime so far, in clock ticks
  local total=0 p
  for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$total"
}
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx;
  proxy_temp_path $TMP/nginx;
  upstream worker { server 127.0.0.1:$WORKER_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://worker; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
/usr/sbin/nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx"
until [ -s "$TMP/nginx/nginx.pid" ]; do :; done
PIDS+=($(cat "$TMP/nginx/nginx.pid"))
NGINX_PIDS="$(cat "$TMP/nginx/nginx.pid") $(pgrep -P "$(cat "$TMP/nginx/nginx.pid")" | tr '\n' ' ')"
cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}'
LUA
run_wrk() {  # NAME URL [header]   (connections: $C, default $CONNS; proxy pids: $PROXY)
  local name=$1 url=$2; shift 2
  local out proxy_before worker_before
  proxy_before=$(cpu_ticks ${PROXY:-}); worker_before=$(cpu_ticks "$WORKER_PID")
  out=$(wrk -t1 -c"${C:-$CONNS}" -d"${SECONDS_RUN}s" --latency -s "$TMP/post.lua" "$@" "$url")
  local proxy_ticks=$(($(cpu_ticks ${PROXY:-}) - proxy_before))
  local worker_ticks=$(($(cpu_ticks "$WORKER_PID") - worker_before))
  local rps p50 requests proxy_us worker_us
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  proxy_us=$(python3 -c "print(round($proxy_ticks / $CLK_TCK * 1e6 / max($requests, 1), 1))")
  worker_us=$(python3 -c "print(round($worker_ticks / $CLK_TCK * 1e6 / max($requests, 1), 1))")
  echo "  $name: $rps req/s, p50 $p50; CPU per request: proxy $proxy_us us, worker $worker_us us" >&2
  echo "$rps $p50 $proxy_us $worker_us"
}
to_us() { python3 -c "import re,sys; v,u=re.match(r'([\d.]+)(\w+)', sys.argv[1]).groups(); print(float(v)*{'us':1,'ms':1000,'s':1e6}[u])" "$1"; }
wait_200 "http://127.0.0.1:$HTTP/v2/models/addsub/ready" -H "Authorization: Bearer $KEY"
# What the server burns with no traffic (the controller's passes, the statistics flush), so
# that the gateway's per-request figure can be read without it.
idle_before=$(cpu_ticks "$SERVER_PID"); sleep 5  # an idle interval, not a wait for a state
SERVER_IDLE_US_PER_S=$(python3 -c "print(round(($(cpu_ticks "$SERVER_PID") - $idle_before) / $CLK_TCK * 1e6 / 5))")
echo "  the server idle: ${SERVER_IDLE_US_PER_S} us of CPU per second"
read -r W_RPS W_P50 W_PROXY W_WORKER < <(run_wrk "worker direct" "http://127.0.0.1:$WORKER_PORT/v2/models/addsub/infer")
read -r N_RPS N_P50 N_PROXY N_WORKER < <(PROXY=$NGINX_PIDS run_wrk "nginx -> worker" "http://127.0.0.1:$NGINX_PORT/v2/models/addsub/infer")
read -r G_RPS G_P50 G_PROXY G_WORKER < <(PROXY=$SERVER_PID run_wrk "berth gateway -> worker" "http://127.0.0.1:$HTTP/v2/models/addsub/infer" -H "Authorization: Bearer $KEY")
echo "  gateway/nginx throughput: $(python3 -c "print(round($G_RPS/$N_RPS, 2))")"
G_PROXY_NET=$(python3 -c "print(round($G_PROXY - $SERVER_IDLE_US_PER_S / max($G_RPS, 1), 1))")
echo "  proxy CPU per request: gateway ${G_PROXY} us (${G_PROXY_NET} us without its idle CPU), nginx ${N_PROXY} us (gateway/nginx $(python3 -c "print(round($G_PROXY_NET/max($N_PROXY, 0.1), 2))")); the worker's own: ${W_WORKER} us direct, ${G_WORKER} us behind the gateway"
echo "  gateway p50 over worker direct: +$(python3 -c "print(round($(to_us "$G_P50") - $(to_us "$W_P50")))") us (nginx: +$(python3 -c "print(round($(to_us "$N_P50") - $(to_us "$W_P50")))") us)"
echo "== (3b) added latency without load: the same, one connection"
read -r W1_RPS W1_P50 _ _ < <(C=1 run_wrk "worker direct, c=1" "http://127.0.0.1:$WORKER_PORT/v2/models/addsub/infer")
read -r N1_RPS N1_P50 _ _ < <(PROXY=$NGINX_PIDS C=1 run_wrk "nginx -> worker, c=1" "http://127.0.0.1:$NGINX_PORT/v2/models/addsub/infer")
read -r G1_RPS G1_P50 _ _ < <(PROXY=$SERVER_PID C=1 run_wrk "berth gateway -> worker, c=1" "http://127.0.0.1:$HTTP/v2/models/addsub/infer" -H "Authorization: Bearer $KEY")
echo "  gateway p50 over worker direct at c=1: +$(python3 -c "print(round($(to_us "$G1_P50") - $(to_us "$W1_P50")))") us (nginx: +$(python3 -c "print(round($(to_us "$N1_P50") - $(to_us "$W1_P50")))") us; goal: <= +100 us)"
