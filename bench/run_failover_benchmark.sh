#!/usr/bin/env bash
# Benchmark (2) of `berth server`: kill -9 (or, with BERTH_BENCH_SIGNAL=STOP, SIGSTOP) one of
# 3 replicas under steady load. A stopped replica hangs: its liveness probes fail and the
# controller kills and replaces it; the requests it held are sent again elsewhere.
#   - load: bench/load.py, open loop at BERTH_BENCH_RATE requests/s (default 200) for
#     BERTH_BENCH_SECONDS (default 30) through the gateway (add_sub, HTTP JSON);
#   - at a third of the run, one replica's worker gets SIGKILL;
#   - prints the client-visible failures and the time from the kill until a replacement is
#     Ready in the API, next to the baseline measured in the same run: a bare `berth worker`
#     started on the same model, to its first 200 (process start plus model load).
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
RATE=${BERTH_BENCH_RATE:-200}
SIGNAL=${BERTH_BENCH_SIGNAL:-KILL}
SECONDS_RUN=${BERTH_BENCH_SECONDS:-30}
MODEL=$ROOT/tests/fixtures/models/add_sub/1/model.onnx
BODY=$TMP/body.json
echo '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}' >"$BODY"

start_berth_server
"$BERTH" deploy "$MODEL" --name failover --replicas 3 >/dev/null
replicas() { curl -s -H "Authorization: Bearer $KEY" "$BERTH_SERVER/api/v1/services/failover/replicas"; }

echo "== (2) SIG${SIGNAL} one of 3 replicas under ${RATE} requests/s for ${SECONDS_RUN} s (add_sub, HTTP JSON)"
python3 "$ROOT/bench/load.py" "$BERTH_SERVER/v2/models/failover/infer" --rate "$RATE" \
  --seconds "$SECONDS_RUN" --body "$BODY" --header "Authorization: Bearer $KEY" >"$TMP/load.json" &
LOAD=$!
sleep "$(python3 -c "print($SECONDS_RUN / 3)")"  # scheduling the kill, not waiting for state
VICTIM=$(replicas | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin)["items"] if x["state"]=="Ready"][0]; print(r["id"], r["pid"])')
read -r VICTIM_ID VICTIM_PID <<<"$VICTIM"
t0=$(now_ms)
kill -s "$SIGNAL" "$VICTIM_PID"
# Poll (no sleeps) until that replica is Ready again under a new process.
until replicas | python3 -c "
import json, sys
r = [x for x in json.load(sys.stdin)['items'] if x['id'] == '$VICTIM_ID']
sys.exit(0 if r and r[0]['state'] == 'Ready' and r[0]['pid'] != $VICTIM_PID else 1)"; do :; done
REPLACED_MS=$(( $(now_ms) - t0 ))
wait "$LOAD"
python3 - "$TMP/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  requests sent: {r['sent']}, answered 200: {r['ok']}, client-visible failures: {r['failed']}"
      f" (statuses {r['statuses']}), p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms,"
      f" slowest {r['max_ms']} ms")
for f in r["failures"][:5]:
    print("   ", f)
PY
echo "  replica SIG${SIGNAL} -> replacement Ready: ${REPLACED_MS} ms"

# Baseline: a bare worker on the same model, from exec to its first 200.
mkdir -p "$TMP/repo/addsub/1" && cp "$MODEL" "$TMP/repo/addsub/1/model.onnx"
WP=$(free_port)
t0=$(now_ms)
"$BERTH" worker --model-repository "$TMP/repo" --http-port "$WP" --grpc-port 0 >/dev/null 2>&1 &
WPID=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$BODY" "http://127.0.0.1:$WP/v2/models/addsub/infer")" = 200 ]; do :; done
BARE_MS=$(( $(now_ms) - t0 ))
kill "$WPID"
echo "  bare worker start -> first 200 (process start + model load): ${BARE_MS} ms"
echo "  replacement time over the bare start: +$(( REPLACED_MS - BARE_MS )) ms (goal: < 2000 ms)"
