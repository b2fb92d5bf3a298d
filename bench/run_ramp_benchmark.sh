#!/usr/bin/env bash
# Open-loop ramp (issue: elastic serving, benchmark 2): add_sub through the gateway of a real
# `berth server`, autoscaled on requests per second (target 50 a replica, 0 to 4 replicas, a
# 6 s window, 5 s of idle grace), offered 0 -> BERTH_BENCH_PEAK (default 200) requests/s over
# 60 s, held for 30 s, back to 0 over 60 s, then 40 s idle (bench/ramp.py). Prints the failed
# requests (goal: 0) and writes the timeline and its plot (offered load, ready replicas, p99
# per second) to docs/benchmarks-ramp.{json,svg}.
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
PEAK=${BERTH_BENCH_PEAK:-200}
BODY=$TMP/body.json
echo '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}' >"$BODY"
start_berth_server
"$BERTH" deploy "$ROOT/tests/fixtures/models/add_sub/1/model.onnx" --name ramp --min-replicas 0 \
  --max-replicas 4 --scale-metric rps --target 50 --scale-window 6s --scale-to-zero-after 5s >/dev/null
until curl -s -H "Authorization: Bearer $KEY" "$BERTH_SERVER/api/v1/services/ramp/replicas" |
    python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)["items"] else 1)'; do
  sleep 0.2  # polling interval while the service idles down to zero before the ramp
done
echo "== ramp 0 -> $PEAK -> 0 requests/s (add_sub, rps target 50, 0..4 replicas), from zero"
python3 "$ROOT/bench/ramp.py" --server "$BERTH_SERVER" --key "$KEY" --service ramp --body "$BODY" \
  --peak "$PEAK" --out "$ROOT/docs/benchmarks-ramp"
"$BERTH" events ramp | grep -c Autoscaled | sed 's/^/  autoscaler decisions that changed the count: /'
