#!/usr/bin/python3
"""Image classification through `berth server`: the seed's request shape end to end.

A local HTTP server (the test's own peer) serves digit images and a few bad answers; the real
server (started with --fetch-allow 127.0.0.1 so that its workers may fetch from loopback) gets
the demo model deployed through the real CLI. The printed sample curl runs verbatim; then
image_url, batches of URLs, multipart uploads, a JPEG, and the gRPC BYTES path all return the
right digit; every bad input gets a 400 naming the problem."""
import base64
import http.server
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_test import BERTH, ROOT, Server, poll  # noqa: E402

DIGITS = os.path.join(ROOT, "tests", "fixtures", "digits")


def digit_png(n):
    with open(os.path.join(DIGITS, "%d.png" % n), "rb") as f:
        return f.read()


def png_claiming(width, height):
    """A PNG whose header claims width x height (valid CRCs) but carries no real pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def digit_jpeg(n):
    from PIL import Image  # python3-pil
    out = io.BytesIO()
    Image.open(os.path.join(DIGITS, "%d.png" % n)).convert("L").resize((112, 112)).save(
        out, "JPEG", quality=95)
    return out.getvalue()


class Peer(http.server.ThreadingHTTPServer):
    """Routes: /digit/N.png, /digit/N.jpg, /page (HTML), /big (17 MiB 'image'), /junk
    (not an image), /truncated.jpg, /huge.png (header claims 20000x20000), /to-other-host
    (redirect to 127.0.0.2, which the server's allow list does not cover)."""

    def __init__(self):
        files = {"/page": (b"<html>hello</html>", "text/html"),
                 "/big": (b"\xff" * (17 << 20), "image/jpeg"),
                 "/junk": (b"this is not an image", "image/png"),
                 "/truncated.jpg": (digit_jpeg(3)[:200], "image/jpeg"),
                 "/huge.png": (png_claiming(20000, 20000), "image/png")}
        for n in range(10):
            files["/digit/%d.png" % n] = (digit_png(n), "image/png")
        files["/digit/3.jpg"] = (digit_jpeg(3), "image/jpeg")
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/held/2.png":  # answers once the test releases it
                    peer.release.wait(60)
                    self.path = "/digit/2.png"
                if self.path == "/to-other-host":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.2:%d/digit/1.png" % peer.port)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, kind = files.get(self.path, (b"missing", "text/plain"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def handle_error(self, request, client_address):
        pass  # the server hangs up on /big once it is over the limit: expected


class ClassifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-classify-test-")
        cls.peer = Peer()
        cls.server = Server(os.path.join(cls.tmp, "data"), ["--fetch-allow", "127.0.0.1"])
        cls.server.start()
        match = poll("the admin key", lambda: __import__("re").search(
            r"(brth_[A-Za-z0-9]{28})", cls.server.log()), timeout=30)
        cls.key = match.group(1)
        env = dict(os.environ, BERTH_SERVER=cls.server.url(""), BERTH_API_KEY=cls.key,
                   XDG_CONFIG_HOME=os.path.join(cls.tmp, "config"))
        res = subprocess.run([BERTH, "deploy", "--demo", "--timeout", "240s"], env=env,
                             capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise AssertionError("deploy --demo failed:\n" + res.stdout + res.stderr)
        cls.deploy_output = res.stdout

    @classmethod
    def tearDownClass(cls):
        cls.peer.shutdown()
        cls.server.stop()
        sys.stderr.write(cls.server.log()[-4000:])
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def classify(self, body, content_type="application/json"):
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        status, payload, _ = self.server.request(
            "POST", "/services/demo/v1/classify", raw=raw, key=self.key,
            headers={"Content-Type": content_type})
        return status, json.loads(payload)

    def test_the_printed_curl_has_the_seed_shape_and_works_verbatim(self):
        self.assertIn("endpoint: %s/services/demo/v1/classify" % self.server.url(""),
                      self.deploy_output)
        self.assertIn("V2 infer: %s/v2/models/demo/infer" % self.server.url(""),
                      self.deploy_output)
        curl = [l for l in self.deploy_output.splitlines() if l.startswith("curl ")]
        self.assertEqual(len(curl), 1, self.deploy_output)
        # The key stays a variable: never printed in clear.
        self.assertRegex(curl[0], r"^curl -X POST -H \"Authorization: Bearer \$BERTH_API_KEY\" "
                                  r"-H \"Content-Type: application/json\" "
                                  r"-d '\{\"image_url\": \"http://[^\"]+\"\}' \S+/v1/classify$")
        out = subprocess.run(["bash", "-c", curl[0] + " -s -w '\\n%{http_code}'"],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": os.environ["PATH"], "BERTH_API_KEY": self.key})
        body, code = out.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200", out.stdout + out.stderr)
        doc = json.loads(body)
        self.assertEqual(doc["predictions"][0]["label"], "7")
        self.assertEqual(doc["model"], "demo")

    def test_image_url_from_a_local_server(self):
        status, doc = self.classify({"image_url": self.peer.url("/digit/3.png")})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["predictions"][0]["label"], "3")
        self.assertGreater(doc["predictions"][0]["score"], 0.5)
        self.assertEqual(len(doc["predictions"]), 5)
        status, doc = self.classify({"image_url": self.peer.url("/digit/3.jpg"), "top_k": 2})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["predictions"][0]["label"], "3")
        self.assertEqual(len(doc["predictions"]), 2)

    def test_a_batch_of_urls_and_inline_images(self):
        wanted = [0, 4, 8, 9]
        instances = [{"image_url": self.peer.url("/digit/%d.png" % n)} for n in wanted[:3]]
        instances.append({"image_base64": base64.b64encode(digit_png(9)).decode()})
        status, doc = self.classify({"instances": instances})
        self.assertEqual(status, 200, doc)
        self.assertEqual([p[0]["label"] for p in doc["predictions"]], [str(n) for n in wanted])

    def test_a_slow_image_url_holds_up_no_other_request(self):
        slow = {}

        def call_slow():
            slow["answer"] = self.classify({"image_url": self.peer.url("/held/2.png")})

        thread = threading.Thread(target=call_slow)
        thread.start()
        try:
            # While that download waits, inline images and other URLs are answered.
            status, doc = self.classify(
                {"image_base64": base64.b64encode(digit_png(6)).decode()})
            self.assertEqual((status, doc["predictions"][0]["label"]), (200, "6"))
            status, doc = self.classify({"image_url": self.peer.url("/digit/9.png")})
            self.assertEqual((status, doc["predictions"][0]["label"]), (200, "9"))
            self.assertTrue(thread.is_alive())
            self.assertNotIn("answer", slow)
        finally:
            self.peer.release.set()
            thread.join(60)
        self.assertEqual(slow["answer"][0], 200, slow)
        self.assertEqual(slow["answer"][1]["predictions"][0]["label"], "2")

    def test_metrics_series_show_replicas_and_batch_sizes(self):
        body = json.dumps({"instances": [{"image_base64": base64.b64encode(digit_png(n)).decode()}
                                         for n in range(4)]}).encode()
        status, _, headers = self.server.request(
            "POST", "/services/demo/v1/classify", raw=body, key=self.key,
            headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertNotIn("Berth-Batch-Rows", headers)  # internal between worker and gateway
        status, doc = self.server.api("GET", "/services/demo/metrics", key=self.key)
        self.assertEqual(status, 200)
        self.assertEqual(doc["points"][-1]["ready_replicas"], 1)
        busy = [p for p in doc["points"] if p["requests"] > 0]
        self.assertTrue(busy, doc["points"][-3:])
        self.assertGreaterEqual(busy[-1]["avg_batch_size"], 1.0)

    def test_multipart_upload_as_curl_sends_it(self):
        path = os.path.join(self.tmp, "five.png")
        with open(path, "wb") as f:
            f.write(digit_png(5))
        out = subprocess.run(
            ["curl", "-s", "-H", "Authorization: Bearer " + self.key, "-F", "image=@" + path,
             "-F", "top_k=1", self.server.url("/services/demo/v1/classify")],
            capture_output=True, text=True, timeout=60)
        doc = json.loads(out.stdout)
        self.assertEqual([p["label"] for p in doc["predictions"]], ["5"], out.stdout)

    def grpc_modules(self):
        """The V2 protos compiled for Python (protoc + grpc_python_plugin), and a stub."""
        import grpc  # python3-grpcio
        out = os.path.join(self.tmp, "pb")
        if not os.path.exists(os.path.join(out, "grpc_service_pb2.py")):
            protoc = shutil.which("protoc")
            plugin = shutil.which("grpc_python_plugin")
            self.assertTrue(protoc and plugin, "protoc and grpc_python_plugin are needed")
            os.makedirs(out, exist_ok=True)
            subprocess.run([protoc, "--python_out=" + out, "--grpc_python_out=" + out,
                            "--plugin=protoc-gen-grpc_python=" + plugin,
                            "-I" + os.path.join(ROOT, "src", "protocol", "proto"),
                            "grpc_service.proto", "model_config.proto"], check=True)
        if out not in sys.path:
            sys.path.insert(0, out)
        import grpc_service_pb2 as pb
        import grpc_service_pb2_grpc as pb_grpc
        stub = pb_grpc.GRPCInferenceServiceStub(
            grpc.insecure_channel("127.0.0.1:%d" % self.server.grpc_port))
        return grpc, pb, stub

    def test_grpc_bytes_input_returns_labels(self):
        grpc, pb, stub = self.grpc_modules()
        request = pb.ModelInferRequest(model_name="demo")
        tensor = request.inputs.add(name="image", datatype="BYTES", shape=[2])
        tensor.contents.bytes_contents.extend([digit_png(2), digit_png(6)])
        metadata = [("authorization", "Bearer " + self.key)]
        response = stub.ModelInfer(request, metadata=metadata, timeout=60)
        outputs = {o.name: o for o in response.outputs}
        self.assertEqual(sorted(outputs), ["index", "label", "score"])
        self.assertEqual(list(outputs["label"].shape), [2, 5])
        labels = [b.decode() for b in _bytes_elements(response.raw_output_contents[
            [o.name for o in response.outputs].index("label")])]
        self.assertEqual([labels[0], labels[5]], ["2", "6"])
        # A broken image is InvalidArgument naming it.
        bad = pb.ModelInferRequest(model_name="demo")
        bad.inputs.add(name="image", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
            b"nope")
        with self.assertRaises(grpc.RpcError) as caught:
            stub.ModelInfer(bad, metadata=metadata, timeout=60)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_an_imagenet_style_model_with_a_labels_file(self):
        # MobileNetV2 (224x224, 1,000 classes, random seeded weights) as a user would bring it.
        models = os.path.join(self.tmp, "models")
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "gen_models.py"),
                        "--out", models, "--bench", "--only", "mobilenet_v2"], check=True,
                       capture_output=True, timeout=300)
        labels = os.path.join(self.tmp, "labels.txt")
        with open(labels, "w") as f:
            f.write("".join("class-%d\n" % i for i in range(1000)))
        env = dict(os.environ, BERTH_SERVER=self.server.url(""), BERTH_API_KEY=self.key,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        res = subprocess.run([BERTH, "deploy", os.path.join(models, "mobilenet_v2", "1",
                                                            "model.onnx"),
                              "--name", "imagenet", "--labels", labels, "--max-batch", "8",
                              "--timeout", "240s"], env=env, capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("/services/imagenet/v1/classify", res.stdout)
        jpeg = digit_jpeg(3)  # grey JPEG: converted to RGB for a 3-channel model
        status, payload, _ = self.server.request(
            "POST", "/services/imagenet/v1/classify", raw=jpeg, key=self.key,
            headers={"Content-Type": "image/jpeg"})
        self.assertEqual(status, 200, payload)
        predictions = json.loads(payload)["predictions"]
        self.assertEqual(len(predictions), 5)
        for p in predictions:
            self.assertEqual(p["label"], "class-%d" % p["index"])
            self.assertTrue(0 < p["score"] <= 1, p)
        scores = [p["score"] for p in predictions]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertLess(sum(scores), 1.0 + 1e-5)  # a softmax over 1,000 classes, top 5 shown
        # A batch up to the service's limit, and one over it.
        status, payload, _ = self.server.request(
            "POST", "/services/imagenet/v1/classify",
            raw=json.dumps({"instances": [{"image_url": self.peer.url("/digit/3.jpg")}] * 8}).encode(),
            key=self.key, headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200, payload)
        batch = json.loads(payload)["predictions"]
        self.assertEqual(len(batch), 8)
        self.assertEqual({b[0]["index"] for b in batch}, {predictions[0]["index"]})
        status, payload, _ = self.server.request(
            "POST", "/services/imagenet/v1/classify",
            raw=json.dumps({"instances": [{"image_url": self.peer.url("/digit/3.jpg")}] * 9}).encode(),
            key=self.key, headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400, payload)
        self.assertIn("at most 8", json.loads(payload)["error"])

    def test_grpc_stream_through_the_gateway(self):
        grpc, pb, stub = self.grpc_modules()
        metadata = [("authorization", "Bearer " + self.key)]

        def requests(digits, model="demo"):
            for i, n in enumerate(digits):
                r = pb.ModelInferRequest(model_name=model, id=str(i))
                r.inputs.add(name="image", datatype="BYTES",
                             shape=[1]).contents.bytes_contents.append(digit_png(n))
                yield r

        def label_of(answer):
            names = [o.name for o in answer.infer_response.outputs]
            return _bytes_elements(
                answer.infer_response.raw_output_contents[names.index("label")])[0].decode()

        answers = list(stub.ModelStreamInfer(requests([4, 1, 8]), metadata=metadata, timeout=60))
        self.assertEqual(len(answers), 3)
        for a in answers:
            self.assertEqual(a.error_message, "")
        self.assertEqual([label_of(a) for a in answers], ["4", "1", "8"])
        # Without a key: refused before anything is forwarded.
        with self.assertRaises(grpc.RpcError) as caught:
            list(stub.ModelStreamInfer(requests([4]), timeout=60))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        # One stream carries several services, as Triton's carries several models; a request
        # the gateway cannot send, or one its replica refuses, is an error in the stream (with
        # its id), and the stream goes on.
        env = dict(os.environ, BERTH_SERVER=self.server.url(""), BERTH_API_KEY=self.key,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        res = subprocess.run([BERTH, "deploy", "--demo", "--name", "digits", "--model-name",
                              "mnist_digits", "--timeout", "240s"], env=env,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

        def mixed():
            # "mnist_digits" is the V2 model name of the service digits: the same stream.
            plan = [("a", "demo", 4), ("b", "digits", 1), ("c", "demo", 8), ("d", "nosuch", 2),
                    ("e", "mnist_digits", 6), ("f", "demo", None), ("g", "demo", 3)]
            for rid, model, n in plan:
                r = pb.ModelInferRequest(model_name=model, id=rid)
                r.inputs.add(name="image", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
                    digit_png(n) if n is not None else b"not an image")
                yield r

        answers = list(stub.ModelStreamInfer(mixed(), metadata=metadata, timeout=60))
        by_id = {a.infer_response.id: a for a in answers}
        self.assertEqual(sorted(by_id), list("abcdefg"), answers)
        for rid, label in (("a", "4"), ("b", "1"), ("c", "8"), ("e", "6"), ("g", "3")):
            self.assertEqual(by_id[rid].error_message, "", rid)
            self.assertEqual(label_of(by_id[rid]), label, rid)
        self.assertIn("nosuch", by_id["d"].error_message)
        self.assertNotEqual(by_id["f"].error_message, "")
        # The answers of one service keep their order.
        order = [a.infer_response.id for a in answers]
        self.assertLess(order.index("a"), order.index("c"))
        self.assertLess(order.index("c"), order.index("g"))
        self.assertLess(order.index("b"), order.index("e"))
        # Unary calls by the V2 model name, and every service's statistics (no name).
        request = next(requests([5], model="mnist_digits"))
        response = stub.ModelInfer(request, metadata=metadata, timeout=60)
        self.assertEqual(response.model_name, "mnist_digits")
        stats = stub.ModelStatistics(pb.ModelStatisticsRequest(), metadata=metadata, timeout=60)
        counts = {m.name: m.inference_count for m in stats.model_stats}
        self.assertGreaterEqual(counts.get("mnist_digits", 0), 3, counts)
        self.assertGreaterEqual(counts.get("demo", 0), 5, counts)
        index = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True), metadata=metadata,
                                     timeout=60)
        self.assertIn("mnist_digits", [m.name for m in index.models])
        # Streams cancelled by their callers mid-way, many at once, leave the gateway serving.
        import concurrent.futures

        def cancel_after_first(_):
            call = stub.ModelStreamInfer(requests([1, 2, 3, 4, 5, 6]), metadata=metadata,
                                         timeout=60)
            first = next(call)
            call.cancel()
            return first.error_message

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            self.assertEqual(list(pool.map(cancel_after_first, range(16))), [""] * 16)
        answers = list(stub.ModelStreamInfer(requests([7]), metadata=metadata, timeout=60))
        self.assertEqual(len(answers), 1)

    def test_grpc_calls_are_held_while_a_service_at_zero_starts(self):
        # Unary and streaming gRPC requests for a service that scaled to zero wait for its
        # replica instead of failing, and answers say which revision served them.
        grpc, pb, stub = self.grpc_modules()
        metadata = [("authorization", "Bearer " + self.key)]
        env = dict(os.environ, BERTH_SERVER=self.server.url(""), BERTH_API_KEY=self.key,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        res = subprocess.run([BERTH, "deploy", "--demo", "--name", "sleepy", "--min-replicas",
                              "0", "--scale-window", "6s", "--scale-to-zero-after", "1s",
                              "--timeout", "240s"],
                             env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

        def at_zero():
            status, payload, _ = self.server.request("GET", "/api/v1/services/sleepy/replicas",
                                                     key=self.key)
            return status == 200 and not json.loads(payload)["items"]

        def digit_request(n, i=0):
            r = pb.ModelInferRequest(model_name="sleepy", id=str(i))
            r.inputs.add(name="image", datatype="BYTES",
                         shape=[1]).contents.bytes_contents.append(digit_png(n))
            return r

        def label_of(response):
            names = [o.name for o in response.outputs]
            return _bytes_elements(response.raw_output_contents[names.index("label")])[0].decode()

        poll("sleepy to scale to zero", at_zero, timeout=90)
        response, call = stub.ModelInfer.with_call(digit_request(3), metadata=metadata,
                                                   timeout=120)
        self.assertEqual(label_of(response), "3")
        self.assertIn(("berth-revision", "1"), list(call.trailing_metadata()))
        poll("sleepy to scale to zero again", at_zero, timeout=90)
        answers = list(stub.ModelStreamInfer(iter([digit_request(7, 0), digit_request(2, 1)]),
                                             metadata=metadata, timeout=120))
        self.assertEqual([a.error_message for a in answers], ["", ""])
        self.assertEqual([label_of(a.infer_response) for a in answers], ["7", "2"])
        subprocess.run([BERTH, "delete", "sleepy"], env=env, capture_output=True, timeout=60)

    def test_bad_inputs_get_a_400_naming_the_problem(self):
        cases = [
            ({"image_url": "http://127.0.0.1:1/x.png"}, "cannot fetch"),
            ({"image_url": "http://127.0.0.2:%d/digit/1.png" % self.peer.port},
             "127.0.0.2 is a loopback address"),
            ({"image_url": "http://169.254.169.254/latest/meta-data/"}, "link-local"),
            ({"image_url": "http://[::1]:%d/digit/1.png" % self.peer.port}, "loopback"),
            ({"image_url": self.peer.url("/to-other-host")}, "127.0.0.2 is a loopback address"),
            ({"image_url": self.peer.url("/page")}, "'text/html'"),
            ({"image_url": self.peer.url("/big")}, "larger than the limit"),
            ({"image_url": self.peer.url("/missing")}, "HTTP 404"),
            ({"image_url": "ftp://127.0.0.1/x.png"}, "http:// and https://"),
            ({"image_url": self.peer.url("/junk")}, "not an image"),
            ({"image_url": self.peer.url("/truncated.jpg")}, "JPEG"),
            ({"image_url": self.peer.url("/huge.png")}, "20000"),
            ({"instances": []}, "non-empty"),
            ({"instances": [{"image_url": self.peer.url("/digit/1.png")}] * 33}, "at most 32"),
            ({"image_uri": "typo"}, "image_url"),
        ]
        for body, needle in cases:
            status, doc = self.classify(body)
            self.assertEqual(status, 400, (body, doc))
            self.assertIn(needle, doc["error"], body)
        # The service still answers after all that.
        status, doc = self.classify({"image_url": self.peer.url("/digit/1.png")})
        self.assertEqual((status, doc["predictions"][0]["label"]), (200, "1"))


def _bytes_elements(raw):
    out, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        out.append(raw[i + 4:i + 4 + n])
        i += 4 + n
    return out


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
