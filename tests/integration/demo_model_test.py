#!/usr/bin/python3
"""The built-in demo model (models/demo/digits) served by the real `berth worker`: held-out
handwritten digits come back with the right label over V2 REST."""
import json
import os
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


class DemoModelTest(unittest.TestCase):
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


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
