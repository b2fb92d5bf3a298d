#!/usr/bin/env bash
# Runs berth's worker benchmarks against ONNX Runtime in-process baselines and prints one line
# per result: the figure, the baseline, the ratio (or difference) and the goal.
# Expects a release build (cmake --build --preset release); builds nothing. See
# docs/benchmarks.md for what each benchmark measures.
#
#   bench/run_worker_benchmarks.sh
#
# Environment: BERTH_BUILD_DIR (default build/release), BERTH_BENCH_MODELS (default
# bench/models), BERTH_BENCH_SECONDS (measured seconds per run, default 5; ResNet-50 runs and
# the dynamic-batching run take twice that), BERTH_BENCH_THREADS (engine threads, default nproc),
# BERTH_BENCH_SECTIONS (which of the numbered sections below to run, default "1 2 3 4").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BERTH_BUILD_DIR:-$ROOT/build/release}
MODELS=${BERTH_BENCH_MODELS:-$ROOT/bench/models}
SECONDS_SHORT=${BERTH_BENCH_SECONDS:-5}
SECONDS_LONG=$((SECONDS_SHORT * 2))
THREADS=${BERTH_BENCH_THREADS:-$(nproc)}
SPIN=${BERTH_BENCH_SPIN:-true}
SECTIONS=" ${BERTH_BENCH_SECTIONS:-1 2 3 4} "
want() { [[ $SECTIONS == *" $1 "* ]]; }
BERTH=$BUILD/berth
INPROCESS=$BUILD/bench/berth_bench_inprocess
LOADGEN=$BUILD/bench/berth_bench_loadgen

for tool in "$BERTH" "$INPROCESS" "$LOADGEN"; do
  if [[ ! -x $tool ]]; then
    echo "missing $tool: run 'cmake --preset release && cmake --build --preset release'" >&2
    exit 2
  fi
done
if pgrep -x cc1plus >/dev/null || pgrep -x cc1 >/dev/null; then
  echo "warning: a compiler is running; the figures will be noisy" >&2
fi

# --- models -----------------------------------------------------------------------------------
if [[ ! -f $MODELS/mobilenet_v2/1/model.onnx || ! -f $MODELS/resnet50/1/model.onnx ||
      ! -f $MODELS/add_sub/1/model.onnx ]]; then
  echo "generating bench models into $MODELS"
  /usr/bin/python3 "$ROOT/scripts/gen_models.py" --out "$MODELS" --bench \
    --only mobilenet_v2,resnet50,add_sub >/dev/null
fi
# add_sub's fixture config asks the batcher to wait up to 500 us for a batch of 4 or 8; that
# delay is configured latency, not server overhead, so the overhead benchmark uses a copy
# whose only difference is max_queue_delay_microseconds: 0.
if [[ ! -f $MODELS/add_sub_nodelay/config.pbtxt ]]; then
  mkdir -p "$MODELS/add_sub_nodelay/1"
  cp "$MODELS/add_sub/1/model.onnx" "$MODELS/add_sub_nodelay/1/model.onnx"
  sed -e 's/^name: "add_sub"/name: "add_sub_nodelay"/' \
      -e 's/max_queue_delay_microseconds: [0-9]*/max_queue_delay_microseconds: 0/' \
      "$MODELS/add_sub/config.pbtxt" >"$MODELS/add_sub_nodelay/config.pbtxt"
fi

# --- helpers ----------------------------------------------------------------------------------
# field LINE KEY: the value of KEY=VALUE in a tool's summary line.
field() { grep -o "\b$2=[^ ]*" <<<"$1" | head -1 | cut -d= -f2; }

SUMMARY=()
MISSED=0
# ratio_line LABEL FIGURE BASELINE UNIT GOAL: "figure vs baseline -> ratio (goal >= GOAL)".
ratio_line() {
  local label=$1 figure=$2 baseline=$3 unit=$4 goal=$5 ratio verdict
  ratio=$(awk -v a="$figure" -v b="$baseline" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r >= g ? "met" : "MISSED") }')
  [[ $verdict == met ]] || MISSED=$((MISSED + 1))
  local line
  line=$(printf '%s: %.1f %s vs in-process %.1f → %s (goal ≥ %s, %s)' \
    "$label" "$figure" "$unit" "$baseline" "$ratio" "$goal" "$verdict")
  echo "$line"
  SUMMARY+=("$line")
}
# overhead_line LABEL FIGURE_US BASELINE_US GOAL_US: "figure - baseline = overhead".
overhead_line() {
  local label=$1 figure=$2 baseline=$3 goal=$4 overhead verdict line
  overhead=$(awk -v a="$figure" -v b="$baseline" 'BEGIN { printf "%.1f", a - b }')
  if [[ -n $goal ]]; then
    verdict=$(awk -v o="$overhead" -v g="$goal" 'BEGIN { print (o <= g ? "met" : "MISSED") }')
    [[ $verdict == met ]] || MISSED=$((MISSED + 1))
    line=$(printf '%s: %.1f µs vs in-process %.1f µs → +%s µs (goal ≤ %s µs, %s)' \
      "$label" "$figure" "$baseline" "$overhead" "$goal" "$verdict")
  else
    line=$(printf '%s: %.1f µs vs in-process %.1f µs → +%s µs (no goal)' \
      "$label" "$figure" "$baseline" "$overhead")
  fi
  echo "$line"
  SUMMARY+=("$line")
}
inprocess() {  # inprocess MODEL BATCH SECONDS -> summary line
  "$INPROCESS" --model "$MODELS/$1/1/model.onnx" --batch "$2" --threads "$THREADS" --spin-wait "$SPIN" \
    --seconds "$3" --warmup-seconds 1
}
ERRORS=0
loadgen() {  # loadgen PROTOCOL MODEL CONCURRENCY SECONDS INPUT... -> summary line
  local protocol=$1 model=$2 concurrency=$3 seconds=$4 port
  shift 4
  port=$([[ $protocol == grpc* ]] && echo "$GRPC_PORT" || echo "$HTTP_PORT")
  local args=(--protocol "$protocol" --port "$port" -c "$concurrency" --seconds "$seconds"
              --warmup-seconds 2)
  [[ -z $model ]] || args+=(--model "$model")
  for input in "$@"; do args+=(--input "$input"); done
  if ! "$LOADGEN" "${args[@]}" 2>"$WORKDIR/loadgen.err"; then
    echo "error: berth_bench_loadgen ${args[*]} failed:" >&2
    cat "$WORKDIR/loadgen.err" >&2
  fi
}
# valid LINE: true when a load generator run produced a result with no errors (else counts it).
valid() {
  if [[ -z $1 || $(field "$1" errors) != 0 || $(field "$1" calls) == 0 ]]; then
    ERRORS=$((ERRORS + 1))
    return 1
  fi
}
metric() {  # metric NAME MODEL: a counter's value from /metrics (0 if absent)
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk -v n="$1" -v m="model=\"$2\"" 'index($0, n "{") == 1 && index($0, m) { s += $NF }
                                       END { printf "%.0f", s }'
}

WORKDIR=$(mktemp -d)
WORKER_PID=""
cleanup() {
  if [[ -n $WORKER_PID ]] && kill -0 "$WORKER_PID" 2>/dev/null; then
    kill "$WORKER_PID"
    wait "$WORKER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

echo "berth worker benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, engine threads" \
  "$THREADS, ${SECONDS_SHORT}s per run (${SECONDS_LONG}s for resnet50)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# --- the worker ---------------------------------------------------------------------------------
"$BERTH" worker --model-repository "$MODELS" --http-port 0 --grpc-port 0 \
  --engine-threads "$THREADS" --engine-spin-wait "$SPIN" --default-max-batch-size 8 >"$WORKDIR/worker.log" 2>&1 &
WORKER_PID=$!
HTTP_PORT="" GRPC_PORT=""
for _ in $(seq 600); do
  if ! kill -0 "$WORKER_PID" 2>/dev/null; then
    echo "the worker exited:" >&2
    cat "$WORKDIR/worker.log" >&2
    exit 1
  fi
  ports=$(sed -n 's/.*serving HTTP on [^ ]*:\([0-9]*\) and gRPC on [^ ]*:\([0-9]*\).*/\1 \2/p' \
    "$WORKDIR/worker.log")
  if [[ -n $ports ]]; then
    read -r HTTP_PORT GRPC_PORT <<<"$ports"
    curl -sf "http://127.0.0.1:$HTTP_PORT/v2/health/ready" >/dev/null && break
  fi
  sleep 0.1
done
if [[ -z $HTTP_PORT ]] || ! curl -sf "http://127.0.0.1:$HTTP_PORT/v2/health/ready" >/dev/null
then
  echo "the worker did not become ready in 60 s:" >&2
  cat "$WORKDIR/worker.log" >&2
  exit 1
fi
echo "worker ready (pid $WORKER_PID, HTTP $HTTP_PORT, gRPC $GRPC_PORT)"
IMAGE=input:1x3x224x224

# --- in-process baselines ----------------------------------------------------------------------
# Each model's baseline is measured just before the worker runs of that model (the worker sits
# idle meanwhile), so that drift in the machine's speed affects both sides alike.
declare -A IN_ITEMS IN_P50 IN_P99
measure_baselines() {  # measure_baselines MODEL SECONDS: in-process batch 1 and 8
  local out batch
  for batch in 1 8; do
    out=$(inprocess "$1" "$batch" "$2")
    IN_ITEMS[$1/$batch]=$(field "$out" items_per_s)
    echo "  in-process $1 batch $batch: ${IN_ITEMS[$1/$batch]} items/s," \
      "p50 $(field "$out" p50_us) µs"
  done
}

# --- (1) throughput -----------------------------------------------------------------------------
if want 1; then
  echo
  echo "== (1) throughput: batch-1 requests, closed loop, vs in-process"
  for model in mobilenet_v2 resnet50; do
    seconds=$([[ $model == resnet50 ]] && echo "$SECONDS_LONG" || echo "$SECONDS_SHORT")
    measure_baselines "$model" "$seconds"
    saturation=$(awk -v a="${IN_ITEMS[$model/1]}" -v b="${IN_ITEMS[$model/8]}" \
      'BEGIN { print (a > b ? a : b) }')
    for protocol in grpc http-binary; do
      for c in 1 8 32; do
        out=$(loadgen "$protocol" "$model" "$c" "$seconds" "$IMAGE")
        valid "$out" || continue
        baseline=$([[ $c == 1 ]] && echo "${IN_ITEMS[$model/1]}" || echo "$saturation")
        ratio_line "throughput $model $protocol c=$c" "$(field "$out" items_per_s)" \
          "$baseline" img/s 0.95
      done
    done
  done
fi

# --- (2) small-model overhead -------------------------------------------------------------------
if want 2; then
  echo
  echo "== (2) small-model overhead: add_sub, one row per request, c=1, latency minus in-process"
  out=$(inprocess add_sub 1 "$SECONDS_SHORT")
  IN_P50[add_sub]=$(field "$out" p50_us)
  IN_P99[add_sub]=$(field "$out" p99_us)
  echo "  in-process add_sub batch 1: p50 ${IN_P50[add_sub]} µs, p99 ${IN_P99[add_sub]} µs"
  # The transport floor: a liveness call's round trip (client, loopback, server framing).
  for protocol in http-live grpc-live; do
    out=$(loadgen "$protocol" "" 1 "$SECONDS_SHORT")
    valid "$out" && echo "  transport floor ($protocol, c=1): p50 $(field "$out" p50_us) µs," \
      "p99 $(field "$out" p99_us) µs"
  done
  for protocol in http-json http-binary grpc; do
    out=$(loadgen "$protocol" add_sub_nodelay 1 "$SECONDS_SHORT" INPUT0:1x16 INPUT1:1x16)
    valid "$out" || continue
    overhead_line "overhead add_sub $protocol c=1 p50" "$(field "$out" p50_us)" \
      "${IN_P50[add_sub]}" 50
    overhead_line "overhead add_sub $protocol c=1 p99" "$(field "$out" p99_us)" \
      "${IN_P99[add_sub]}" ""
  done
  out=$(loadgen grpc add_sub 1 "$SECONDS_SHORT" INPUT0:1x16 INPUT1:1x16)
  valid "$out" && overhead_line \
    "for reference: add_sub with its fixture config (max_queue_delay 500 µs) grpc c=1 p50" \
    "$(field "$out" p50_us)" "${IN_P50[add_sub]}" ""
fi

# --- (3) dynamic batching -----------------------------------------------------------------------
if want 3; then
  echo
  echo "== (3) dynamic batching: mobilenet_v2, 32 single-image gRPC clients vs in-process batch 8"
  out=$(inprocess mobilenet_v2 8 "$SECONDS_LONG")
  IN_ITEMS[mobilenet_v2/8]=$(field "$out" items_per_s)
  echo "  in-process mobilenet_v2 batch 8: ${IN_ITEMS[mobilenet_v2/8]} items/s"
  inferences_before=$(metric berth_inference_count_total mobilenet_v2)
  executions_before=$(metric berth_inference_executions_total mobilenet_v2)
  out=$(loadgen grpc mobilenet_v2 32 "$SECONDS_LONG" "$IMAGE")
  if valid "$out"; then
    inferences=$(($(metric berth_inference_count_total mobilenet_v2) - inferences_before))
    executions=$(($(metric berth_inference_executions_total mobilenet_v2) - executions_before))
    ratio_line "dynamic batching mobilenet_v2 grpc c=32" "$(field "$out" items_per_s)" \
      "${IN_ITEMS[mobilenet_v2/8]}" img/s 0.8
    if ((executions > 0)); then
      echo "  mean batch size formed by the batcher (incl. warm-up): $(awk -v i="$inferences" \
        -v e="$executions" 'BEGIN { printf "%.2f", i / e }')"
    fi
  fi
fi

# --- (4) system shared memory --------------------------------------------------------------------
if want 4; then
  echo
  echo "== (4) system shared memory: mobilenet_v2 inputs in /dev/shm vs in the HTTP binary body," \
    "same client, outputs as binary data in both"
  for c in 1 8; do
    binary=$(loadgen http-binary mobilenet_v2 "$c" "$SECONDS_SHORT" "$IMAGE")
    shm=$(loadgen http-shm mobilenet_v2 "$c" "$SECONDS_SHORT" "$IMAGE")
    if valid "$binary" && valid "$shm"; then
      line=$(awk -v a="$(field "$shm" items_per_s)" -v b="$(field "$binary" items_per_s)" \
        -v pa="$(field "$shm" p50_us)" -v pb="$(field "$binary" p50_us)" -v c="$c" \
        'BEGIN { printf "shared memory mobilenet_v2 c=%s: %.1f img/s (p50 %.0f µs) vs HTTP binary %.1f img/s (p50 %.0f µs) → %.2f", c, a, pa, b, pb, (b > 0 ? a / b : 0) }')
      echo "$line"
      SUMMARY+=("$line")
    fi
  done
fi

echo
echo "== summary"
printf '%s\n' "${SUMMARY[@]}"
echo "goals missed: $MISSED; load generator failures: $ERRORS"
if ((ERRORS > 0)); then exit 1; fi
