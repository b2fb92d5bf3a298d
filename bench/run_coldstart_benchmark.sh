#!/usr/bin/env bash
# Cold start from zero (issue: elastic serving, benchmark 1): a service deployed with
# --min-replicas 0 scales to zero, then one request arrives; the gateway holds it while a
# replica starts, loads and warms up the model, and answers it. Measured: that request's
# latency (curl's time_total), TRIALS times per model, p50 and p99. Baseline, in the same run
# on the same machine: a bare `berth worker` on the same model, from its start to its first
# 200 (what starting the engine costs by itself). The ratio is berth's cold start over it.
# Needs a release build (cmake --preset release && cmake --build --preset release).
# Env: BERTH_BIN (default build/release/berth), BERTH_BENCH_TRIALS (default 20),
# BERTH_BENCH_MODELS (default "add_sub mobilenet_v2").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
TRIALS=${BERTH_BENCH_TRIALS:-20}
MODEL_NAMES=${BERTH_BENCH_MODELS:-add_sub mobilenet_v2}
MODELS=$ROOT/bench/models
for m in $MODEL_NAMES; do
  if [[ ! -f $MODELS/$m/1/model.onnx ]]; then
    /usr/bin/python3 "$ROOT/scripts/gen_models.py" --out "$MODELS" --bench --only "$m" >/dev/null
  fi
done
stats() {  # values on stdin -> "p50 X ms, p99 Y ms"
  python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin.read().split())
q = lambda p: v[min(len(v) - 1, max(0, int(round(p * (len(v) - 1)))))]
print("p50 %.0f ms, p99 %.0f ms" % (q(0.5), q(0.99)))'
}
p50() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.stdin.read().split()))'; }

start_berth_server
for m in $MODEL_NAMES; do
  MODEL=$MODELS/$m/1/model.onnx
  REQ=$TMP/$m.json
  /usr/bin/python3 - "$MODEL" "$REQ" <<'PY'
import json, sys
import onnx
model = onnx.load(sys.argv[1], load_external_data=False)
inits = {i.name for i in model.graph.initializer}
inputs = []
for i in model.graph.input:
    if i.name in inits:
        continue
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
    n = 1
    for d in dims:
        n *= d
    inputs.append({"name": i.name, "datatype": "FP32", "shape": dims, "data": [0.0] * n})
json.dump({"inputs": inputs}, open(sys.argv[2], "w"))
PY
  name=cold-${m//_/-}
  "$BERTH" deploy "$MODEL" --name "$name" --min-replicas 0 --max-replicas 1 \
    --scale-window 6s --scale-to-zero-after 1s --cold-start-timeout 120s >/dev/null
  echo "== cold start from zero: $m ($(du -h "$MODEL" | cut -f1)), $TRIALS trials"
  cold=()
  for i in $(seq 1 "$TRIALS"); do
    # At zero: no replica of it left at all.
    until curl -s -H "Authorization: Bearer $KEY" "$BERTH_SERVER/api/v1/services/$name/replicas" |
        python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)["items"] else 1)'; do
      sleep 0.2  # polling interval while the service idles down
    done
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' --data-binary @"$REQ" "$BERTH_SERVER/v2/models/$name/infer")
    if [[ ${out%% *} != 200 ]]; then echo "  trial $i: HTTP ${out%% *} (a failed request)"; exit 1; fi
    cold+=($(python3 -c "print(round(${out##* } * 1000))"))
  done
  bare=()
  for i in $(seq 1 "$TRIALS"); do
    bare+=($(bare_worker_ms "$MODEL" "$m" "$REQ" "$TMP/repo-$m-$i"))
  done
  C=$(printf '%s\n' "${cold[@]}" | p50); B=$(printf '%s\n' "${bare[@]}" | p50)
  echo "  berth, held request from zero: $(printf '%s\n' "${cold[@]}" | stats)  (0 failed of $TRIALS)"
  echo "  bare worker start -> first 200: $(printf '%s\n' "${bare[@]}" | stats)"
  echo "  ratio p50 berth/bare worker: $(python3 -c "print(round($C/$B, 2))")"
  "$BERTH" delete "$name" >/dev/null
done
curl -s "$BERTH_SERVER/metrics" | grep '^berth_cold_start_seconds_\(sum\|count\)' || true
