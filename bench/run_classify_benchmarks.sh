#!/usr/bin/env bash
# Benchmarks of image classification (issue: image classification out of the box), each with a
# baseline measured in the same run on the same machine:
#   (1) throughput of JPEG decode + pre-processing + ResNet-50 at batch 32 through berth
#       (berth server, gateway, worker's /classify with {"instances": [32 images]}) against the
#       same steps in one in-process loop (bench/classify_inprocess.cc: berth's image stage and
#       ONNX backend, nothing between them);
#   (2) berth against a FastAPI + uvicorn + PyTorch service doing the same work on the same
#       model and images (bench/fastapi_classifier.py), one JPEG per request, 8 concurrent
#       clients: throughput and p99; then both at the same open-loop rate (BERTH_BENCH_RATE,
#       default 8 requests/s, below both capacities): p99 at equal load.
# Images: 640x480 JPEGs made by the script. Model: ResNet-50 with seeded random weights
# (scripts/gen_models.py --bench), 1,000 labels.
# Needs a release build: cmake --preset release && cmake --build --preset release
# Env: BERTH_BIN, BERTH_BENCH_SECONDS (default 20).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/server_lib.sh"
BERTH=${BERTH_BIN:-$ROOT/build/release/berth}
INPROC=$(dirname "$BERTH")/bench/berth_bench_classify_inprocess
SECONDS_RUN=${BERTH_BENCH_SECONDS:-20}
MODEL=$ROOT/bench/models/resnet50/1/model.onnx
if [[ ! -f $MODEL ]]; then
  /usr/bin/python3 "$ROOT/scripts/gen_models.py" --out "$ROOT/bench/models" --bench --only resnet50 >/dev/null
fi

# 32 different 640x480 JPEGs (smooth colour fields with shapes and noise, like photos compress),
# the labels file, and the two batch-32 request bodies.
mkdir -p "$TMP/images"
/usr/bin/python3 - "$TMP" <<'PY'
import base64, json, os, random, sys
from PIL import Image, ImageDraw, ImageFilter
tmp = sys.argv[1]
rng = random.Random(7)
for i in range(32):
    img = Image.new("RGB", (640, 480), tuple(rng.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(640), rng.randrange(480)
        r = rng.randrange(10, 120)
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    img = img.filter(ImageFilter.GaussianBlur(2))
    img.save(os.path.join(tmp, "images", "%02d.jpg" % i), "JPEG", quality=90)
with open(os.path.join(tmp, "labels.txt"), "w") as f:
    f.write("\n".join("class %d" % i for i in range(1000)) + "\n")
files = sorted(os.listdir(os.path.join(tmp, "images")))
for b in range(2):
    order = files[b * 16:] + files[:b * 16]
    instances = [{"image_base64": base64.b64encode(open(os.path.join(tmp, "images", n), "rb").read()).decode()}
                 for n in order]
    json.dump({"instances": instances, "top_k": 5}, open(os.path.join(tmp, "batch%d.json" % b), "w"))
PY
echo "images: 32 JPEGs 640x480, $(du -sh "$TMP/images" | cut -f1) in all; model: ResNet-50 ($(du -h "$MODEL" | cut -f1))"

start_berth_server
"$BERTH" deploy "$MODEL" --name resnet --labels "$TMP/labels.txt" --max-batch 32 >/dev/null
CLASSIFY=$BERTH_SERVER/services/resnet/v1/classify
AUTH="Authorization: Bearer $KEY"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

echo "== (1) decode + pre-process + ResNet-50 at batch 32: berth vs the same steps in-process (${SECONDS_RUN} s each)"
INPROC_IPS=$("$INPROC" --model "$MODEL" --images "$TMP/images" --batch 32 --seconds "$SECONDS_RUN" | field images_per_s)
echo "  in-process loop: ${INPROC_IPS} images/s"
OUT=$(python3 "$ROOT/bench/closed_loop.py" "$CLASSIFY" "$TMP/batch0.json" "$TMP/batch1.json" \
  --concurrency 2 --seconds "$SECONDS_RUN" --header "$AUTH")
BERTH_IPS=$(echo "$OUT" | python3 -c "import json,sys; r=json.load(sys.stdin); assert r['errors']==0, r; print(round(r['requests_per_s']*32, 2))")
echo "  berth (gateway -> worker /classify, 32 base64 JPEGs a request, 2 clients): ${BERTH_IPS} images/s"
echo "  ratio berth/in-process: $(python3 -c "print(round($BERTH_IPS/$INPROC_IPS, 2))")"

echo "== (2) berth vs FastAPI + uvicorn + PyTorch: one JPEG a request, 8 clients, ${SECONDS_RUN} s each"
B=$(python3 "$ROOT/bench/closed_loop.py" "$CLASSIFY" "$TMP"/images/*.jpg --concurrency 8 \
  --seconds "$SECONDS_RUN" --content-type image/jpeg --header "$AUTH")
# Started only now, so that building its model does not overlap berth's run.
FP=$(free_port)
/usr/bin/python3 "$ROOT/bench/fastapi_classifier.py" --port "$FP" --labels "$TMP/labels.txt" >"$TMP/fastapi.log" 2>&1 &
PIDS+=($!)
wait_200 "http://127.0.0.1:$FP/v1/classify" -H 'Content-Type: image/jpeg' --data-binary @"$TMP/images/00.jpg"
F=$(python3 "$ROOT/bench/closed_loop.py" "http://127.0.0.1:$FP/v1/classify" "$TMP"/images/*.jpg \
  --concurrency 8 --seconds "$SECONDS_RUN" --content-type image/jpeg)
python3 - "$B" "$F" <<'PY'
import json, sys
b, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name, r in (("berth", b), ("FastAPI + uvicorn + torch", f)):
    print(f"  {name}: {r['requests_per_s']} requests/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, errors {r['errors']}")
print(f"  throughput berth/FastAPI: {b['requests_per_s'] / f['requests_per_s']:.2f}x (goal >= 2)")
print(f"  p99 berth/FastAPI: {b['p99_ms'] / f['p99_ms']:.2f} (goal <= 0.33)")
PY
RATE=${BERTH_BENCH_RATE:-8}
echo "== (2b) the same two at an open-loop ${RATE} requests/s (one JPEG each), ${SECONDS_RUN} s each"
BO=$(python3 "$ROOT/bench/load.py" "$CLASSIFY" --rate "$RATE" --seconds "$SECONDS_RUN" \
  --body "$TMP/images/05.jpg" --content-type image/jpeg --header "$AUTH")
FO=$(python3 "$ROOT/bench/load.py" "http://127.0.0.1:$FP/v1/classify" --rate "$RATE" \
  --seconds "$SECONDS_RUN" --body "$TMP/images/05.jpg" --content-type image/jpeg)
python3 - "$BO" "$FO" <<'PY'
import json, sys
b, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name, r in (("berth", b), ("FastAPI + uvicorn + torch", f)):
    print(f"  {name}: {r['ok']} of {r['sent']} answered 200, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
print(f"  p99 berth/FastAPI at equal load: {b['p99_ms'] / f['p99_ms']:.2f} (goal <= 0.33)")
PY
