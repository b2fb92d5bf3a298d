#!/usr/bin/env bash
# Rollouts under load (issue: elastic serving, benchmark 3), through the gateway of a real
# `berth server` at BERTH_BENCH_RATE requests/s (default 200), open loop (bench/load.py):
#   (a) a manual 10% canary (versioned 1 -> 2, the same signature) for 10,000 requests: how
#       the answers split by Berth-Revision (goal: 90/10 within +-2 points) and the non-2xx
#       answers (goal: 0);
#   (b) a canary of a model that fails on 5% of the inputs (tests/fixtures' flaky: run time
#       errors for x >= 8), 50% of the traffic, one 10-second step gated at a 1% error rate:
#       from its first answer to its last (goal: within the interval + 2 s), and what callers
#       got meanwhile.
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
RATE=${BERTH_BENCH_RATE:-200}
REQUESTS=${BERTH_BENCH_REQUESTS:-10000}
FIX=$ROOT/tests/fixtures/models
BODY=$TMP/body.json BAD=$TMP/bad.json
echo '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[0,1,2,3]}]}' >"$BODY"
echo '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[100,100,100,100]}]}' >"$BAD"

start_berth_server
"$BERTH" models upload "$FIX/versioned/1/model.onnx" --name steady >/dev/null
"$BERTH" models upload "$FIX/versioned/2/model.onnx" --name steady >/dev/null
"$BERTH" models upload "$FIX/flaky/1/model.onnx" --name flaky >/dev/null
"$BERTH" deploy --model steady --model-version 1 --name roll --replicas 2 >/dev/null
load() {  # seconds [load.py args...]
  local seconds=$1; shift
  python3 "$ROOT/bench/load.py" "$BERTH_SERVER/v2/models/roll/infer" --rate "$RATE" \
    --seconds "$seconds" --body "$BODY" --header "Authorization: Bearer $KEY" \
    --count-header Berth-Revision "$@"
}

echo "== (a) a 10% canary under $RATE requests/s, $REQUESTS requests"
"$BERTH" deploy --model steady --model-version 2 --name roll --canary 10 >/dev/null
load "$(python3 -c "print($REQUESTS / $RATE)")" >"$TMP/a.json"
python3 - "$TMP/a.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = r["header_values"]
total = sum(x["count"] for x in v.values())
canary = v.get("2", {"count": 0})["count"]
share = 100.0 * canary / total if total else 0
print("  sent %d, 200s %d, non-2xx %d (statuses %s), p50 %s ms, p99 %s ms"
      % (r["sent"], r["ok"], r["failed"], r["statuses"], r["p50_ms"], r["p99_ms"]))
print("  revision 1: %d, revision 2 (canary): %d -> canary share %.2f%% (goal 10 +- 2): %s"
      % (v.get("1", {"count": 0})["count"], canary, share,
         "met" if abs(share - 10) <= 2 and r["failed"] == 0 else "MISSED"))
PY
"$BERTH" rollout promote roll >/dev/null
until [ "$(curl -s -H "Authorization: Bearer $KEY" "$BERTH_SERVER/api/v1/services/roll" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["current_revision"])')" = 2 ]; do sleep 0.2; done

echo "== (b) a canary failing on 5% of its inputs: 50% of $RATE requests/s, 10 s step, gate 1%"
INTERVAL=10
"$BERTH" deploy --model flaky --name roll --canary-steps 50 --canary-interval "${INTERVAL}s" \
  --max-error-rate 1% --min-requests 20 >/dev/null
load 25 --alt-body "$BAD" --alt-every 20 >"$TMP/b.json"
STATE=$(curl -s -H "Authorization: Bearer $KEY" "$BERTH_SERVER/api/v1/services/roll/rollout")
python3 - "$TMP/b.json" "$STATE" "$INTERVAL" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
state = json.loads(sys.argv[2])
interval = float(sys.argv[3])
v = r["header_values"].get("3")
print("  phase %s: %s" % (state["phase"], state["message"]))
if v:
    span = v["last_s"] - v["first_s"]
    print("  canary answered %d requests over %.2f s (first at %.2f s, last at %.2f s); "
          "goal: within %.0f s + 2 s: %s" % (v["count"], span, v["first_s"], v["last_s"],
                                             interval, "met" if span <= interval + 2 else "MISSED"))
print("  callers: %d sent, %d 200s, %d others (%s) — the canary's own failures before its halt"
      % (r["sent"], r["ok"], r["failed"], r["statuses"]))
PY
