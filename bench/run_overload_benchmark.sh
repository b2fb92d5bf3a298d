#!/usr/bin/env bash
# Overload (issue: elastic serving, benchmark 4): MobileNetV2 (one replica, 2 cores) through the
# gateway of a real `berth server`:
#   - unloaded: open loop at 2 requests/s for 15 s: p99 (bench/load.py);
#   - capacity: closed loop, 8 clients, 15 s (bench/closed_loop.py): requests/s;
#   - overload: open loop at 3x that capacity for 20 s, each request saying it waits at most 2x
#     the unloaded p99 (Berth-Timeout-Us): goodput (200s per second) against capacity (goal
#     >= 0.9), p99 of the admitted requests against 2x the unloaded p99 (goal <=), and whether
#     every refusal was a 503 with Retry-After.
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
MODELS=$ROOT/bench/models
if [[ ! -f $MODELS/mobilenet_v2/1/model.onnx ]]; then
  /usr/bin/python3 "$ROOT/scripts/gen_models.py" --out "$MODELS" --bench --only mobilenet_v2 >/dev/null
fi
MODEL=$MODELS/mobilenet_v2/1/model.onnx
REQ=$TMP/req.json
/usr/bin/python3 - "$MODEL" "$REQ" <<'PY'
import json, sys
import onnx
m = onnx.load(sys.argv[1], load_external_data=False)
name = m.graph.input[0].name
json.dump({"inputs": [{"name": name, "datatype": "FP32", "shape": [1, 3, 224, 224],
                       "data": [0.0] * (3 * 224 * 224)}]}, open(sys.argv[2], "w"))
PY
start_berth_server
"$BERTH" deploy "$MODEL" --name over >/dev/null
URL=$BERTH_SERVER/v2/models/over/infer
AUTH="Authorization: Bearer $KEY"

python3 "$ROOT/bench/load.py" "$URL" --rate 2 --seconds 15 --body "$REQ" --header "$AUTH" >"$TMP/idle.json"
P99=$(python3 -c "import json; print(json.load(open('$TMP/idle.json'))['p99_ms'])")
python3 "$ROOT/bench/closed_loop.py" "$URL" --concurrency 8 --seconds 15 --header "$AUTH" "$REQ" >"$TMP/cap.json"
CAP=$(python3 -c "import json; print(json.load(open('$TMP/cap.json'))['requests_per_s'])")
RATE=$(python3 -c "print(round(3 * $CAP, 1))")
BUDGET_US=$(python3 -c "print(int(2 * $P99 * 1000))")
echo "== overload: MobileNetV2, unloaded p99 ${P99} ms, capacity ${CAP} req/s; offered ${RATE} req/s for 20 s, each waiting at most $((BUDGET_US / 1000)) ms"
python3 "$ROOT/bench/load.py" "$URL" --rate "$RATE" --seconds 20 --connections 128 --body "$REQ" \
  --header "$AUTH" --header "Berth-Timeout-Us: $BUDGET_US" --count-header Retry-After >"$TMP/over.json"
python3 - "$TMP/over.json" "$CAP" "$P99" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cap, p99 = float(sys.argv[2]), float(sys.argv[3])
goodput = r["ok"] / r["seconds"]
refused = r["statuses"].get("503", 0)
with_retry_after = sum(v["count"] for v in r["header_values"].values())
others = {k: v for k, v in r["statuses"].items() if k not in ("200", "503")}
print("  goodput %.1f req/s = %.2f of capacity (goal >= 0.9): %s"
      % (goodput, goodput / cap, "met" if goodput >= 0.9 * cap else "MISSED"))
print("  p99 of the %d admitted: %s ms vs 2x unloaded %.1f ms: %s"
      % (r["ok"], r["p99_ms"], 2 * p99, "met" if r["p99_ms"] <= 2 * p99 else "MISSED"))
print("  refused: %d, of them with Retry-After: %d; other answers: %s" % (refused, with_retry_after, others or "none"))
PY
