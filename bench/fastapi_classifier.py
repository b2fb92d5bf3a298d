#!/usr/bin/python3
"""The baseline service of berth's classification benchmark: what a team would write without
berth. FastAPI + uvicorn + PyTorch (all from Debian), one process, serving the same ResNet-50
(same architecture and seeded weights as bench/models/resnet50, rebuilt from
scripts/gen_models.py) with the same steps: decode the JPEG with Pillow, resize the shorter side
to 256, centre-crop 224, ImageNet mean/std, softmax, top 5.

  fastapi_classifier.py --port P --labels FILE
POST /v1/classify with the JPEG as the body -> {"predictions": [{"label", "index", "score"}]}
"""
import argparse
import io
import os
import sys

import torch
import uvicorn
from fastapi import FastAPI, Request
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_models  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def build_model():
    _, resnet = gen_models._bench_nets(torch)
    torch.manual_seed(1000 + gen_models.BENCH_MODELS.index("resnet50"))
    return resnet().eval()


def preprocess(data):
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    scale = 256 / min(w, h)
    image = image.resize((max(224, round(w * scale)), max(224, round(h * scale))),
                         Image.BILINEAR)
    w, h = image.size
    left, top = (w - 224) // 2, (h - 224) // 2
    image = image.crop((left, top, left + 224, top + 224))
    tensor = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    tensor = tensor.view(224, 224, 3).permute(2, 0, 1).float().div(255)
    return (tensor - MEAN) / STD


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--labels", required=True)
    args = parser.parse_args()
    labels = open(args.labels).read().splitlines()
    # Debian's torch starts with one OpenMP thread here; give it every core, as berth's engine.
    torch.set_num_threads(os.cpu_count())
    model = build_model()
    app = FastAPI()

    @app.post("/v1/classify")
    async def classify(request: Request):
        data = await request.body()
        with torch.inference_mode():
            scores = model(preprocess(data).unsqueeze(0)).softmax(1)[0]
        top = scores.topk(5)
        return {"predictions": [{"label": labels[i], "index": int(i), "score": float(s)}
                                for s, i in zip(top.values.tolist(), top.indices.tolist())]}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
