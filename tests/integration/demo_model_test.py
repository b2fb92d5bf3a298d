#!/usr/bin/python3
"""The built-in demo model (models/demo/digits) served by the real `berth worker`: held-out
handwritten digits come back with the right label over V2 REST."""
import base64
import json
import os
import struct
import zlib
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BERTH = os.environ.get("BERTH_BIN", os.path.join(ROOT, "build", "berth"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoWorkerCase(unittest.TestCase):
    """Starts a worker on models/demo for the tests of a subclass."""

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.log = tempfile.TemporaryFile()
        cls.proc = subprocess.Popen(
            [BERTH, "worker", "--model-repository", os.path.join(ROOT, "models", "demo"),
             "--http-port", str(cls.port), "--grpc-port", str(free_port())],
            stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if cls.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(cls.url("/v2/models/digits/ready"), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)  # polling interval while the worker starts, bounded by the deadline
        cls.tearDownClass()
        raise RuntimeError("berth worker did not serve the demo model")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        cls.log.seek(0)
        sys.stderr.write(cls.log.read().decode(errors="replace")[-4000:] if cls.proc.returncode
                         else "")

    @classmethod
    def url(cls, path):
        return "http://127.0.0.1:%d%s" % (cls.port, path)

    def infer(self, images):
        body = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [len(images), 1, 28, 28],
                            "data": [v for image in images for v in image]}]}
        request = urllib.request.Request(self.url("/v2/models/digits/infer"),
                                         data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)


class DemoModelTest(DemoWorkerCase):
    def test_metadata_and_config_describe_the_classifier(self):
        with urllib.request.urlopen(self.url("/v2/models/digits"), timeout=10) as r:
            meta = json.load(r)
        self.assertEqual(meta["inputs"][0], {"name": "image", "datatype": "FP32",
                                             "shape": [-1, 1, 28, 28]})
        self.assertEqual(meta["outputs"][0]["shape"], [-1, 10])
        with urllib.request.urlopen(self.url("/v2/models/digits/config"), timeout=10) as r:
            config = json.load(r)
        self.assertEqual(config["output"][0]["label_filename"], "labels.txt")

    def test_held_out_digits_are_recognised(self):
        with open(os.path.join(ROOT, "tests", "fixtures", "digits", "digits.json")) as f:
            digits = json.load(f)
        labels = sorted(digits)
        response = self.infer([digits[d] for d in labels])
        logits = response["outputs"][0]["data"]
        predicted = [max(range(10), key=lambda k: logits[i * 10 + k]) for i in range(len(labels))]
        correct = sum(1 for d, p in zip(labels, predicted) if int(d) == p)
        self.assertGreaterEqual(correct, 9, "predicted %s for digits %s" % (predicted, labels))
        with open(os.path.join(ROOT, "models", "demo", "digits", "TRAINING.json")) as f:
            self.assertGreaterEqual(json.load(f)["held_out_accuracy"], 0.98)


def png_bytes(values, invert=False):
    """An 8-bit greyscale 28x28 PNG from 784 values in 0..1."""
    pixels = [round((1 - v if invert else v) * 255) for v in values]
    raw = b"".join(b"\x00" + bytes(pixels[r * 28:(r + 1) * 28]) for r in range(28))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class ClassifyTest(DemoWorkerCase):
    def classify(self, body, content_type):
        request = urllib.request.Request(self.url("/v2/models/digits/classify"), data=body,
                                         method="POST", headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def test_a_png_of_a_seven_comes_back_as_7(self):
        with open(os.path.join(ROOT, "tests", "fixtures", "digits", "7.png"), "rb") as f:
            status, doc = self.classify(f.read(), "image/png")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["predictions"][0]["label"], "7")
        self.assertEqual(len(doc["predictions"]), 5)
        self.assertGreater(doc["predictions"][0]["score"], 0.5)
        self.assertAlmostEqual(sum(p["score"] for p in doc["predictions"]), 1.0, delta=0.2)
        self.assertEqual((doc["model"], doc["version"]), ("digits", "1"))

    def test_dark_on_light_digits_and_batches_of_instances(self):
        with open(os.path.join(ROOT, "tests", "fixtures", "digits", "digits.json")) as f:
            digits = json.load(f)
        wanted = ["1", "4", "7"]
        # Written like ink on paper: the worker inverts such images for this model.
        instances = [{"image_base64": base64.b64encode(png_bytes(digits[d], invert=True)).decode()}
                     for d in wanted]
        instances[1]["image_base64"] = "data:image/png;base64," + instances[1]["image_base64"]
        status, doc = self.classify(json.dumps({"instances": instances, "top_k": 2}).encode(),
                                    "application/json")
        self.assertEqual(status, 200, doc)
        self.assertEqual([p[0]["label"] for p in doc["predictions"]], wanted)
        self.assertEqual([len(p) for p in doc["predictions"]], [2, 2, 2])

    def test_bad_images_get_clear_errors(self):
        status, doc = self.classify(b"not an image", "image/png")
        self.assertEqual(status, 400)
        self.assertIn("not an image", doc["error"])
        status, doc = self.classify(json.dumps({"image_base64": "%%%"}).encode(), "application/json")
        self.assertEqual(status, 400)
        self.assertIn("base64", doc["error"])
        status, doc = self.classify(json.dumps({"instances": []}).encode(), "application/json")
        self.assertEqual(status, 400)
        status, doc = self.classify(json.dumps({"instances": [{"image_base64": "AA=="}] * 33}).encode(),
                                    "application/json")
        self.assertEqual(status, 400)
        self.assertIn("at most 32", doc["error"])
        with open(os.path.join(ROOT, "tests", "fixtures", "digits", "7.png"), "rb") as f:
            truncated = f.read()[:100]
        status, doc = self.classify(truncated, "image/png")
        self.assertEqual(status, 400)
        self.assertIn("PNG", doc["error"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
