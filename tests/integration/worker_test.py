#!/usr/bin/python3
"""Black-box integration test of `berth worker` (KServe V2 / Open Inference
Protocol over REST and gRPC, with Triton's extensions).

    BERTH_BIN=build/berth /usr/bin/python3 tests/integration/worker_test.py [-v] [Test.method]

Environment:
  BERTH_BIN            the berth binary (default: <repo>/build/berth)
  BERTH_MODELS         fixture model repository (default: <repo>/tests/fixtures/models)
  BERTH_PROTO_DIR      grpc_service.proto + model_config.proto (default: <repo>/src/protocol/proto)
  BERTH_BIG_MODEL_MB   size of the `big` model of the memory-release test (default: 200)
  BERTH_STARTUP_S      deadline for a worker to become live and load its models (default: 30)

The test starts its own workers on free loopback ports:
  main:    berth worker --model-repository <copy of BERTH_MODELS + big> --http-port P --grpc-port G
  limited: berth worker --model-repository <add_sub only> --http-port P2 --grpc-port G2
                        --max-request-bytes 65536
and kills them at the end.  On any failure the workers' output is printed.
Needs: protoc, grpc_python_plugin, python3-grpcio, python3-protobuf, python3-numpy
and python3-onnx (only to generate `big`); promtool for the /metrics lint.
"""

import base64
import concurrent.futures
import gzip
import http.client
import json
from multiprocessing import shared_memory
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env_path(name, default):
    return os.path.abspath(os.environ.get(name) or os.path.join(REPO_ROOT, default))


BERTH_BIN = _env_path("BERTH_BIN", "build/berth")
MODELS = _env_path("BERTH_MODELS", "tests/fixtures/models")
PROTO_DIR = _env_path("BERTH_PROTO_DIR", "src/protocol/proto")
GEN_MODELS = os.path.join(REPO_ROOT, "scripts", "gen_models.py")
BIG_MB = float(os.environ.get("BERTH_BIG_MODEL_MB", "200"))
STARTUP_S = float(os.environ.get("BERTH_STARTUP_S", "30"))
LIMITED_MAX_REQUEST_BYTES = 65536

# Models of the fixture repository that must load; `broken` must not.
READY_MODELS = ["add_sub", "identity_all", "tiny_cnn", "tiny_cnn_pt", "versioned"]

TMP = None           # scratch directory of this run
MAIN = None          # Worker on a copy of the fixtures (+ big)
LIMITED = None       # Worker with --max-request-bytes 65536 and --max-connections 4
LIMITED_MAX_CONNECTIONS = 4
WORKERS = []
PB = None            # compiled protobuf modules (namespace) or None
PB_ERROR = None      # why compiling the .proto files failed


# ---------------------------------------------------------------------------
# small utilities


def poll(fn, deadline_s, interval_s=0.05):
    """Call fn() until it returns a truthy value or the deadline passes.
    Returns the last value (falsy on timeout)."""
    end = time.monotonic() + deadline_s
    while True:
        value = fn()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval_s)


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


STRUCT_CODE = {
    "BOOL": "?", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q",
    "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q",
    "FP16": "e", "FP32": "f", "FP64": "d",
}


def encode(datatype, values):
    """Little-endian raw encoding (Triton binary data / gRPC raw contents)."""
    if datatype == "BYTES":
        out = b""
        for v in values:
            b = v.encode("utf-8") if isinstance(v, str) else v
            out += struct.pack("<I", len(b)) + b
        return out
    return struct.pack("<%d%s" % (len(values), STRUCT_CODE[datatype]), *values)


def decode(datatype, raw):
    if datatype == "BYTES":
        out, off = [], 0
        while off < len(raw):
            if off + 4 > len(raw):
                raise ValueError("truncated BYTES length prefix")
            (n,) = struct.unpack_from("<I", raw, off)
            off += 4
            if off + n > len(raw):
                raise ValueError("truncated BYTES element")
            out.append(raw[off:off + n])
            off += n
        return out
    size = struct.calcsize("<" + STRUCT_CODE[datatype])
    if len(raw) % size:
        raise ValueError("%d bytes is not a whole number of %s elements" % (len(raw), datatype))
    return list(struct.unpack("<%d%s" % (len(raw) // size, STRUCT_CODE[datatype]), raw))


def flatten(x):
    if isinstance(x, list):
        out = []
        for e in x:
            out.extend(flatten(e))
        return out
    return [x]


def prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# Values that must survive a round trip exactly (3 elements each: without a
# config the server may treat identity_all as batchable with a default
# max_batch_size, Triton's default is 4, so stay at or below 4 elements).
IDENTITY_VALUES = {
    "BOOL": [True, False, True],
    "UINT8": [0, 255, 7],
    "UINT16": [0, 65535, 1234],
    "UINT32": [0, 4294967295, 123456],
    "UINT64": [0, 18446744073709551615, 9007199254740993],  # 2**53+1: not a double
    "INT8": [-128, 127, 0],
    "INT16": [-32768, 32767, -1],
    "INT32": [-2147483648, 2147483647, -5],
    "INT64": [-9223372036854775808, 9223372036854775807, -9007199254740993],
    "FP16": [0.5, -2.0, 65504.0],
    "FP32": [1.5, -0.1, 3.4028234663852886e38],
    "FP64": [0.1, -1e-300, 1.7976931348623157e308],
    "BYTES": ["hello", "", 'quote" back\\slash \u00fcnic\u00f6de \u2603'],
}
IDENTITY_TYPES = list(IDENTITY_VALUES)
# BYTES elements that only a length-aware path keeps: every byte value, NULs inside and at
# the start, empty elements between others.
EVERY_BYTE = [bytes(range(256)), b"", b"he\x00llo", b"\x00\x01\x02\x03", b"", b"\x00",
              bytes(range(255, -1, -1))]


def identity_inputs_with_bytes(values):
    """identity_all's inputs as JSON, IN_BYTES carrying `values` as binary data: (header, blobs)."""
    inputs, blobs = [], []
    for t, v in IDENTITY_VALUES.items():
        if t == "BYTES":
            raw = encode(t, values)
            inputs.append({"name": "IN_BYTES", "datatype": t, "shape": [len(values)],
                           "parameters": {"binary_data_size": len(raw)}})
            blobs.append(raw)
        else:
            inputs.append({"name": "IN_" + t, "datatype": t, "shape": [len(v)], "data": v})
    return inputs, blobs


def norm(datatype, values):
    """Canonical form for comparing identity_all values."""
    if datatype == "FP32":
        return [f32(v) for v in values]
    if datatype == "FP16":
        return [f16(v) for v in values]
    if datatype == "BYTES":
        return [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
    return list(values)


# ---------------------------------------------------------------------------
# HTTP client


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "HTTP %d %r" % (self.status, self.body[:500])


def http_call(port, method, path, body=None, headers=None, timeout=30):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def try_http(port, method, path, **kw):
    """Like http_call() but returns None instead of raising on connection errors."""
    try:
        return http_call(port, method, path, timeout=5, **kw)
    except (OSError, http.client.HTTPException):
        return None


def binary_body(header, blobs):
    head = json.dumps(header).encode("utf-8")
    return head + b"".join(blobs), {
        "Inference-Header-Content-Length": str(len(head)),
        "Content-Type": "application/octet-stream",
    }


def parse_infer(resp):
    """Decode an infer response, JSON or Triton binary; returns (json, {name: values})."""
    hlen = resp.headers.get("inference-header-content-length")
    if hlen is None:
        head, rest = resp.json(), b""
    else:
        n = int(hlen)
        head, rest = json.loads(resp.body[:n].decode("utf-8")), resp.body[n:]
    values, off = {}, 0
    for out in head["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            raw = rest[off:off + size]
            if len(raw) != size:
                raise AssertionError("binary output %s truncated" % out["name"])
            off += size
            values[out["name"]] = decode(out["datatype"], raw)
        else:
            values[out["name"]] = flatten(out["data"])
    if off != len(rest):
        raise AssertionError("%d unclaimed bytes after the binary outputs" % (len(rest) - off))
    return head, values


# ---------------------------------------------------------------------------
# worker processes


class Worker:
    def __init__(self, name, repo, ports, extra_args=()):
        self.name = name
        self.repo = repo
        self.http_port, self.grpc_port = ports
        self.saved_log = None
        self.log_path = os.path.join(TMP, name + ".log")
        self.cmd = [BERTH_BIN, "worker", "--model-repository", repo,
                    "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
                    *extra_args]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        WORKERS.append(self)

    def get(self, path, **kw):
        return http_call(self.http_port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return http_call(self.http_port, "POST", path, body=body, **kw)

    def log_tail(self, max_lines=200):
        if self.saved_log is not None:
            text = self.saved_log
        else:
            try:
                with open(self.log_path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError as e:
                return "(no log: %s)" % e
        return "\n".join(text.splitlines()[-max_lines:])

    def _fail(self, what):
        raise RuntimeError("worker %s: %s\ncommand: %s\n--- output ---\n%s"
                           % (self.name, what, " ".join(self.cmd), self.log_tail()))

    def wait_ready(self, models, deadline_s=STARTUP_S):
        end = time.monotonic() + deadline_s

        def alive_and(check):
            def fn():
                if self.proc.poll() is not None:
                    self._fail("exited with status %s during startup" % self.proc.returncode)
                return check()
            return fn

        def live():
            r = try_http(self.http_port, "GET", "/v2/health/live")
            return r is not None and r.status == 200

        if not poll(alive_and(live), max(0.0, end - time.monotonic())):
            self._fail("/v2/health/live not 200 within %.0f s" % deadline_s)
        for m in models:
            def ready(m=m):
                r = try_http(self.http_port, "GET", "/v2/models/%s/ready" % m)
                return r is not None and r.status == 200
            if not poll(alive_and(ready), max(0.0, end - time.monotonic())):
                self._fail("model %s not ready within %.0f s" % (m, deadline_s))

    def rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS for pid %d" % self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        if self.saved_log is None:  # keep the output for the failure report
            self.saved_log = self.log_tail(10 ** 9)


def compile_protos():
    global PB, PB_ERROR
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        PB_ERROR = "protoc and grpc_python_plugin must be on PATH"
        return
    out = os.path.join(TMP, "proto_py")
    os.makedirs(out)
    cmd = [protoc, "--python_out=" + out, "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=" + plugin, "-I" + PROTO_DIR,
           "grpc_service.proto", "model_config.proto"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        PB_ERROR = "%s failed:\n%s%s" % (" ".join(cmd), res.stdout, res.stderr)
        return
    sys.path.insert(0, out)
    try:
        import grpc  # noqa: F401
        import grpc_service_pb2
        import grpc_service_pb2_grpc
        import model_config_pb2
    except Exception as e:  # report it from the gRPC tests
        PB_ERROR = "importing the generated modules failed: %r" % (e,)
        return

    class _PB:
        pass

    PB = _PB()
    PB.svc = grpc_service_pb2
    PB.svc_grpc = grpc_service_pb2_grpc
    PB.cfg = model_config_pb2


def _cleanup():
    for w in WORKERS:
        w.stop()
    if TMP and not os.environ.get("BERTH_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def setUpModule():
    global TMP, MAIN, LIMITED
    # Module cleanups run even when setUpModule fails half way (tearDownModule would not).
    unittest.addModuleCleanup(_cleanup)
    if not (os.path.isfile(BERTH_BIN) and os.access(BERTH_BIN, os.X_OK)):
        raise RuntimeError("BERTH_BIN=%s is not an executable file" % BERTH_BIN)
    if not os.path.isdir(os.path.join(MODELS, "add_sub")):
        raise RuntimeError("BERTH_MODELS=%s holds no add_sub model" % MODELS)
    TMP = tempfile.mkdtemp(prefix="berth-it-")

    # Main repository: a copy of the fixtures (tests load/unload and add `big`).
    main_repo = os.path.join(TMP, "models")
    shutil.copytree(MODELS, main_repo)
    gen = subprocess.Popen([sys.executable, GEN_MODELS, "--out", main_repo, "--only", "big",
                            "--big-model-mb", str(BIG_MB)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    limited_repo = os.path.join(TMP, "limited")
    os.makedirs(limited_repo)
    shutil.copytree(os.path.join(MODELS, "add_sub"), os.path.join(limited_repo, "add_sub"))
    ports = free_ports(4)
    LIMITED = Worker("limited", limited_repo, ports[2:],
                     ["--max-request-bytes", str(LIMITED_MAX_REQUEST_BYTES),
                      "--max-connections", str(LIMITED_MAX_CONNECTIONS)])

    compile_protos()
    gen_out, _ = gen.communicate(timeout=120)
    if gen.returncode != 0:
        raise RuntimeError("gen_models.py --only big failed:\n" + gen_out.decode("utf-8", "replace"))

    MAIN = Worker("main", main_repo, ports[:2])
    LIMITED.wait_ready(["add_sub"])
    MAIN.wait_ready(READY_MODELS + ["big"])


# ---------------------------------------------------------------------------
# request builders


ADD_SUB_A = [i * 0.5 for i in range(16)]
ADD_SUB_B = [(16 - i) * 0.25 for i in range(16)]


def add_sub_rows(n, offset=0.0):
    a = [v + offset + r for r in range(n) for v in ADD_SUB_A]
    b = [v - r for r in range(n) for v in ADD_SUB_B]
    return a, b


def add_sub_request(a, b, rows=None, dtype="FP32", **extra):
    rows = len(a) // 16 if rows is None else rows
    req = {"inputs": [
        {"name": "INPUT0", "shape": [rows, 16], "datatype": dtype, "data": a},
        {"name": "INPUT1", "shape": [rows, 16], "datatype": "FP32", "data": b},
    ]}
    req.update(extra)
    return req


def expected_add_sub(a, b):
    return ([f32(f32(x) + f32(y)) for x, y in zip(a, b)],
            [f32(f32(x) - f32(y)) for x, y in zip(a, b)])


def index_entries(worker, name):
    r = worker.post("/v2/repository/index", {})
    if r.status != 200:
        raise AssertionError("repository index: %r" % r)
    return [e for e in r.json() if e.get("name") == name]


def model_stats(worker, model, version="1"):
    r = worker.get("/v2/models/%s/stats" % model)
    if r.status != 200:
        raise AssertionError("stats: %r" % r)
    for s in r.json()["model_stats"]:
        if s["name"] == model and str(s["version"]) == version:
            return s
    raise AssertionError("no stats for %s version %s in %r" % (model, version, r.body[:1000]))


class BerthTestCase(unittest.TestCase):
    maxDiff = 4000

    def assertError(self, r, status):
        """status may be an int or a collection of acceptable ints."""
        ok = r.status in status if isinstance(status, (set, tuple, list)) else r.status == status
        self.assertTrue(ok, "expected HTTP %s with an error body, got %r" % (status, r))
        try:
            obj = r.json()
        except ValueError:
            self.fail("error body is not JSON: %r" % r.body[:300])
        self.assertIsInstance(obj, dict, r.body)
        self.assertIn("error", obj, r.body)
        self.assertIsInstance(obj["error"], str, r.body)
        self.assertTrue(obj["error"].strip(), "empty error message")

    def assertAddSub(self, worker, a, b, path="/v2/models/add_sub/infer"):
        r = worker.post(path, add_sub_request(a, b))
        self.assertEqual(r.status, 200, r)
        _, vals = parse_infer(r)
        exp0, exp1 = expected_add_sub(a, b)
        self.assertEqual([f32(v) for v in vals["OUTPUT0"]], exp0)
        self.assertEqual([f32(v) for v in vals["OUTPUT1"]], exp1)

    def wait_model_ready(self, model, want, deadline_s=20):
        def check():
            r = try_http(MAIN.http_port, "GET", "/v2/models/%s/ready" % model)
            return r is not None and (r.status == 200) == want
        self.assertTrue(poll(check, deadline_s),
                        "%s ready should become %s within %d s" % (model, want, deadline_s))


# ---------------------------------------------------------------------------
# REST


class RestHealthMetadataTest(BerthTestCase):
    def test_health_live_and_ready(self):
        self.assertEqual(MAIN.get("/v2/health/live").status, 200)
        # A model that fails to load does not make the server unready.
        self.assertEqual(MAIN.get("/v2/health/ready").status, 200)

    def test_server_metadata(self):
        r = MAIN.get("/v2")
        self.assertEqual(r.status, 200, r)
        md = r.json()
        self.assertIsInstance(md["name"], str)
        self.assertTrue(md["name"])
        self.assertIsInstance(md["version"], str)
        self.assertTrue(md["version"])
        self.assertIsInstance(md["extensions"], list)
        self.assertTrue(all(isinstance(e, str) for e in md["extensions"]), md["extensions"])
        # Triton's names for the extensions this test exercises.
        for ext in ("binary_tensor_data", "model_repository", "model_configuration", "statistics"):
            self.assertIn(ext, md["extensions"])

    def _check_add_sub_metadata(self, md):
        self.assertEqual(md["name"], "add_sub")
        self.assertEqual([str(v) for v in md["versions"]], ["1"])
        self.assertEqual(md["platform"], "onnxruntime_onnx")
        ins = {t["name"]: (t["datatype"], t["shape"]) for t in md["inputs"]}
        outs = {t["name"]: (t["datatype"], t["shape"]) for t in md["outputs"]}
        self.assertEqual(ins, {"INPUT0": ("FP32", [-1, 16]), "INPUT1": ("FP32", [-1, 16])})
        self.assertEqual(outs, {"OUTPUT0": ("FP32", [-1, 16]), "OUTPUT1": ("FP32", [-1, 16])})

    def test_model_metadata(self):
        r = MAIN.get("/v2/models/add_sub")
        self.assertEqual(r.status, 200, r)
        self._check_add_sub_metadata(r.json())
        r = MAIN.get("/v2/models/add_sub/versions/1")
        self.assertEqual(r.status, 200, r)
        self._check_add_sub_metadata(r.json())

    def test_model_ready(self):
        self.assertEqual(MAIN.get("/v2/models/add_sub/ready").status, 200)
        self.assertEqual(MAIN.get("/v2/models/add_sub/versions/1/ready").status, 200)
        # Not ready is a 4xx, as the V2 protocol asks: 404 unknown, 400 there but not ready.
        self.assertEqual(MAIN.get("/v2/models/no_such_model/ready").status, 404)
        broken = MAIN.get("/v2/models/broken/ready")
        self.assertEqual(broken.status, 400, broken)
        self.assertTrue(broken.json()["error"], broken)

    def test_tiny_cnn_metadata_from_onnx_file(self):
        r = MAIN.get("/v2/models/tiny_cnn")
        self.assertEqual(r.status, 200, r)
        md = r.json()
        self.assertEqual(md["platform"], "onnxruntime_onnx")
        self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in md["inputs"]],
                         [("input", "FP32", [-1, 1, 28, 28])])
        self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in md["outputs"]],
                         [("logits", "FP32", [-1, 10])])
        r = MAIN.get("/v2/models/tiny_cnn_pt")
        self.assertEqual(r.status, 200, r)
        md = r.json()
        self.assertEqual(md["platform"], "pytorch_libtorch")
        self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in md["inputs"]],
                         [("INPUT__0", "FP32", [-1, 1, 28, 28])])
        self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in md["outputs"]],
                         [("OUTPUT__0", "FP32", [-1, 10])])

    def test_identity_all_metadata_from_onnx_file(self):
        r = MAIN.get("/v2/models/identity_all")
        self.assertEqual(r.status, 200, r)
        md = r.json()
        ins = {t["name"]: t["datatype"] for t in md["inputs"]}
        outs = {t["name"]: t["datatype"] for t in md["outputs"]}
        self.assertEqual(ins, {"IN_" + t: t for t in IDENTITY_TYPES})
        self.assertEqual(outs, {"OUT_" + t: t for t in IDENTITY_TYPES})
        for t in md["inputs"] + md["outputs"]:
            self.assertEqual(t["shape"], [-1], t)


class RestInferTest(BerthTestCase):
    def test_infer_one_row(self):
        a, b = add_sub_rows(1)
        self.assertAddSub(MAIN, a, b)

    def test_infer_three_rows_echoes_id_and_version(self):
        a, b = add_sub_rows(3, offset=0.25)
        r = MAIN.post("/v2/models/add_sub/infer", add_sub_request(a, b, id="req-42"))
        self.assertEqual(r.status, 200, r)
        head, vals = parse_infer(r)
        self.assertEqual(head["id"], "req-42")
        self.assertEqual(head["model_name"], "add_sub")
        self.assertEqual(str(head["model_version"]), "1")
        exp0, exp1 = expected_add_sub(a, b)
        outs = {o["name"]: o for o in head["outputs"]}
        self.assertEqual(set(outs), {"OUTPUT0", "OUTPUT1"})
        for name in outs:
            self.assertEqual(outs[name]["datatype"], "FP32")
            self.assertEqual(outs[name]["shape"], [3, 16])
        self.assertEqual([f32(v) for v in vals["OUTPUT0"]], exp0)
        self.assertEqual([f32(v) for v in vals["OUTPUT1"]], exp1)

    def test_infer_versioned_path(self):
        a, b = add_sub_rows(2)
        self.assertAddSub(MAIN, a, b, path="/v2/models/add_sub/versions/1/infer")

    def test_requested_outputs_only(self):
        a, b = add_sub_rows(2)
        r = MAIN.post("/v2/models/add_sub/infer",
                      add_sub_request(a, b, outputs=[{"name": "OUTPUT1"}]))
        self.assertEqual(r.status, 200, r)
        head, vals = parse_infer(r)
        self.assertEqual([o["name"] for o in head["outputs"]], ["OUTPUT1"])
        self.assertEqual([f32(v) for v in vals["OUTPUT1"]], expected_add_sub(a, b)[1])

    def test_parameters_accepted(self):
        a, b = add_sub_rows(1)
        req = add_sub_request(a, b, parameters={"client_tag": "abc", "some_int": 3, "some_flag": True})
        req["inputs"][0]["parameters"] = {"note": "x"}
        r = MAIN.post("/v2/models/add_sub/infer", req)
        self.assertEqual(r.status, 200, r)
        _, vals = parse_infer(r)
        self.assertEqual([f32(v) for v in vals["OUTPUT0"]], expected_add_sub(a, b)[0])

    def test_a_deadline_the_gateway_gives_drops_an_expired_request_unrun(self):
        # Berth-Timeout-Us (what the gateway still waits) shortens the request's timeout; a
        # request that cannot make it is never run: refused at once when the batcher already
        # knows a batch takes longer (503, admission by queue time), else answered 504 when it
        # expires in the queue.
        a, b = add_sub_rows(1)
        r = MAIN.post("/v2/models/add_sub/infer", add_sub_request(a, b),
                      headers={"Berth-Timeout-Us": "1"})
        self.assertIn(r.status, (503, 504), r)
        self.assertRegex(r.body.decode(), "past its deadline|waited longer than its timeout")
        if r.status == 503:
            self.assertEqual(r.headers.get("retry-after"), "1")
        r = MAIN.post("/v2/models/add_sub/infer", add_sub_request(a, b),
                      headers={"Berth-Timeout-Us": "30000000"})
        self.assertEqual(r.status, 200, r)
        r = MAIN.post("/v2/models/add_sub/infer", add_sub_request(a, b),
                      headers={"Berth-Timeout-Us": "soon"})
        self.assertEqual(r.status, 200, r)  # not a number: no budget, as if absent

    def test_identity_all_json_round_trip(self):
        req = {"inputs": [{"name": "IN_" + t, "datatype": t, "shape": [len(v)], "data": v}
                          for t, v in IDENTITY_VALUES.items()]}
        r = MAIN.post("/v2/models/identity_all/infer", req)
        self.assertEqual(r.status, 200, r)
        head = r.json()
        outs = {o["name"]: o for o in head["outputs"]}
        self.assertEqual(set(outs), {"OUT_" + t for t in IDENTITY_TYPES})
        for t, sent in IDENTITY_VALUES.items():
            with self.subTest(datatype=t):
                o = outs["OUT_" + t]
                self.assertEqual(o["datatype"], t)
                self.assertEqual(o["shape"], [len(sent)])
                got = flatten(o["data"])
                if t == "BOOL":
                    self.assertTrue(all(isinstance(v, bool) for v in got), got)
                elif t == "BYTES":
                    self.assertTrue(all(isinstance(v, str) for v in got), got)
                elif t.startswith(("INT", "UINT")):
                    self.assertTrue(all(type(v) is int for v in got), got)
                self.assertEqual(norm(t, got), norm(t, sent))

    def test_binary_inputs_and_outputs(self):
        a, b = add_sub_rows(2, offset=1.0)
        header = {
            "inputs": [
                {"name": "INPUT0", "shape": [2, 16], "datatype": "FP32",
                 "parameters": {"binary_data_size": 4 * 32}},
                {"name": "INPUT1", "shape": [2, 16], "datatype": "FP32", "data": b},
            ],
            "parameters": {"binary_data_output": True},
        }
        body, headers = binary_body(header, [encode("FP32", a)])
        r = MAIN.post("/v2/models/add_sub/infer", body, headers=headers)
        self.assertEqual(r.status, 200, r)
        self.assertIn("inference-header-content-length", r.headers)
        head, vals = parse_infer(r)
        for o in head["outputs"]:
            self.assertNotIn("data", o)
            self.assertEqual(o["parameters"]["binary_data_size"], 4 * 32, o)
            self.assertEqual(o["shape"], [2, 16])
        exp0, exp1 = expected_add_sub(a, b)
        self.assertEqual(vals["OUTPUT0"], exp0)
        self.assertEqual(vals["OUTPUT1"], exp1)

    def test_binary_output_per_output(self):
        a, b = add_sub_rows(1)
        req = add_sub_request(a, b, outputs=[
            {"name": "OUTPUT0", "parameters": {"binary_data": True}},
            {"name": "OUTPUT1", "parameters": {"binary_data": False}},
        ])
        r = MAIN.post("/v2/models/add_sub/infer", req)
        self.assertEqual(r.status, 200, r)
        self.assertIn("inference-header-content-length", r.headers)
        head, vals = parse_infer(r)
        outs = {o["name"]: o for o in head["outputs"]}
        self.assertEqual(outs["OUTPUT0"]["parameters"]["binary_data_size"], 64)
        self.assertNotIn("data", outs["OUTPUT0"])
        self.assertIn("data", outs["OUTPUT1"])
        exp0, exp1 = expected_add_sub(a, b)
        self.assertEqual(vals["OUTPUT0"], exp0)
        self.assertEqual([f32(v) for v in vals["OUTPUT1"]], exp1)

    def test_identity_all_binary_round_trip(self):
        inputs, blobs = [], []
        for t, v in IDENTITY_VALUES.items():
            raw = encode(t, v)
            inputs.append({"name": "IN_" + t, "datatype": t, "shape": [len(v)],
                           "parameters": {"binary_data_size": len(raw)}})
            blobs.append(raw)
        header = {"inputs": inputs,
                  "outputs": [{"name": "OUT_" + t, "parameters": {"binary_data": True}}
                              for t in IDENTITY_TYPES]}
        body, headers = binary_body(header, blobs)
        r = MAIN.post("/v2/models/identity_all/infer", body, headers=headers)
        self.assertEqual(r.status, 200, r)
        head, vals = parse_infer(r)
        outs = {o["name"]: o for o in head["outputs"]}
        for t, sent in IDENTITY_VALUES.items():
            with self.subTest(datatype=t):
                o = outs["OUT_" + t]
                self.assertEqual(o["datatype"], t)
                self.assertEqual(o["shape"], [len(sent)])
                self.assertEqual(o["parameters"]["binary_data_size"], len(encode(t, sent)))
                self.assertEqual(norm(t, vals["OUT_" + t]), norm(t, sent))

    def echo_bytes_binary(self, values):
        """identity_all with IN_BYTES as binary data, the rest JSON; OUT_BYTES's (head, values)."""
        inputs, blobs = identity_inputs_with_bytes(values)
        header = {"inputs": inputs,
                  "outputs": [{"name": "OUT_BYTES", "parameters": {"binary_data": True}}]}
        body, headers = binary_body(header, blobs)
        r = MAIN.post("/v2/models/identity_all/infer", body, headers=headers)
        self.assertEqual(r.status, 200, r)
        head, vals = parse_infer(r)
        self.assertEqual([o["name"] for o in head["outputs"]], ["OUT_BYTES"])
        self.assertEqual(head["outputs"][0]["shape"], [len(values)])
        return vals["OUT_BYTES"]

    def test_binary_bytes_mixed_with_json(self):
        self.assertEqual(self.echo_bytes_binary(IDENTITY_VALUES["BYTES"]),
                         norm("BYTES", IDENTITY_VALUES["BYTES"]))

    def test_bytes_keep_every_byte_binary(self):
        self.assertEqual(self.echo_bytes_binary(EVERY_BYTE), EVERY_BYTE)

    def test_bytes_keep_nul_json(self):
        sent = ["he\u0000llo", "\u0000\u0001", "", "\u0000"]
        req = {"inputs": [{"name": "IN_" + t, "datatype": t, "shape": [len(v)], "data": v}
                          for t, v in IDENTITY_VALUES.items() if t != "BYTES"]
               + [{"name": "IN_BYTES", "datatype": "BYTES", "shape": [len(sent)], "data": sent}],
               "outputs": [{"name": "OUT_BYTES"}]}
        r = MAIN.post("/v2/models/identity_all/infer", req)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(flatten(r.json()["outputs"][0]["data"]), sent)

    def test_tiny_cnn_onnx_matches_torchscript(self):
        x = [((i * 37) % 101) / 101.0 - 0.5 for i in range(2 * 784)]
        r1 = MAIN.post("/v2/models/tiny_cnn/infer", {"inputs": [
            {"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": x}]})
        self.assertEqual(r1.status, 200, r1)
        r2 = MAIN.post("/v2/models/tiny_cnn_pt/infer", {"inputs": [
            {"name": "INPUT__0", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": x}]})
        self.assertEqual(r2.status, 200, r2)
        h1, v1 = parse_infer(r1)
        h2, v2 = parse_infer(r2)
        self.assertEqual(h1["outputs"][0]["shape"], [2, 10])
        self.assertEqual(h2["outputs"][0]["shape"], [2, 10])
        onnx_logits, pt_logits = v1["logits"], v2["OUTPUT__0"]
        self.assertEqual(len(onnx_logits), 20)
        self.assertEqual(len(pt_logits), 20)
        diff = max(abs(p - q) for p, q in zip(onnx_logits, pt_logits))
        self.assertLess(diff, 1e-4, (onnx_logits, pt_logits))
        # Not a trivial agreement (zeros, or the same row twice).
        self.assertGreater(max(abs(v) for v in onnx_logits), 0.05)
        self.assertGreater(max(abs(p - q) for p, q in zip(onnx_logits[:10], onnx_logits[10:])), 1e-3)

    def test_classification_extension(self):
        # Triton's classification parameter: the top classes of each row as
        # "<value>:<index>", ranked by value, in place of the raw tensor.
        x = [((i * 37) % 101) / 101.0 - 0.5 for i in range(2 * 784)]
        raw = MAIN.post("/v2/models/tiny_cnn/infer", {"inputs": [
            {"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": x}]})
        logits = parse_infer(raw)[1]["logits"]
        r = MAIN.post("/v2/models/tiny_cnn/infer", {
            "inputs": [{"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": x}],
            "outputs": [{"name": "logits", "parameters": {"classification": 3}}]})
        self.assertEqual(r.status, 200, r)
        head, values = parse_infer(r)
        self.assertEqual((head["outputs"][0]["datatype"], head["outputs"][0]["shape"]),
                         ("BYTES", [2, 3]))
        for row in range(2):
            scores = logits[row * 10:(row + 1) * 10]
            best = sorted(range(10), key=lambda i: (-scores[i], i))[:3]
            got = [e.split(":") for e in values["logits"][row * 3:(row + 1) * 3]]
            self.assertEqual([int(i) for _, i in got], best, got)
            for (value, i) in got:
                self.assertAlmostEqual(float(value), scores[int(i)], places=5)
        for bad in (0, -1, "3", 1 << 20):
            r = MAIN.post("/v2/models/tiny_cnn/infer", {
                "inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
                            "data": x[:784]}],
                "outputs": [{"name": "logits", "parameters": {"classification": bad}}]})
            self.assertError(r, 400)
            self.assertIn("classification", r.json()["error"])
        r = MAIN.get("/v2")
        self.assertIn("classification", r.json()["extensions"])

    def test_versioned_policy(self):
        x = [1.0, 2.5, -3.0, 100.0]
        req = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x}]}
        for version, add in (("3", 3.0), ("2", 2.0)):
            r = MAIN.post("/v2/models/versioned/versions/%s/infer" % version, req)
            self.assertEqual(r.status, 200, r)
            head, vals = parse_infer(r)
            self.assertEqual(str(head["model_version"]), version)
            self.assertEqual(vals["y"], [v + add for v in x])
        r = MAIN.post("/v2/models/versioned/versions/1/infer", req)
        self.assertError(r, 404)
        r = MAIN.post("/v2/models/versioned/infer", req)
        self.assertEqual(r.status, 200, r)
        head, vals = parse_infer(r)
        self.assertEqual(str(head["model_version"]), "3")
        self.assertEqual(vals["y"], [v + 3.0 for v in x])
        self.assertEqual(MAIN.get("/v2/models/versioned/versions/3/ready").status, 200)
        self.assertEqual(MAIN.get("/v2/models/versioned/versions/2/ready").status, 200)
        self.assertNotEqual(MAIN.get("/v2/models/versioned/versions/1/ready").status, 200)
        md = MAIN.get("/v2/models/versioned").json()
        self.assertEqual(sorted(str(v) for v in md["versions"]), ["2", "3"])


class RestBrokenModelTest(BerthTestCase):
    def test_broken_model_unavailable_with_reason(self):
        self.assertNotEqual(MAIN.get("/v2/models/broken/ready").status, 200)

        def unavailable():
            entries = index_entries(MAIN, "broken")
            return entries if any(e.get("state") == "UNAVAILABLE" for e in entries) else None
        entries = poll(unavailable, 10)
        self.assertTrue(entries, "broken never UNAVAILABLE in the index: %r"
                        % index_entries(MAIN, "broken"))
        e = [e for e in entries if e.get("state") == "UNAVAILABLE"][0]
        self.assertIsInstance(e.get("reason"), str, e)
        self.assertTrue(e["reason"].strip(), e)

        r = MAIN.post("/v2/models/broken/infer", {"inputs": [
            {"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]})
        self.assertTrue(400 <= r.status < 500 or r.status == 503, r)
        self.assertError(r, r.status)

    def test_index_lists_ready_models(self):
        r = MAIN.post("/v2/repository/index", {})
        self.assertEqual(r.status, 200, r)
        index = r.json()
        self.assertIsInstance(index, list)
        for m in ("add_sub", "identity_all", "tiny_cnn", "tiny_cnn_pt"):
            states = [e.get("state") for e in index if e.get("name") == m]
            self.assertIn("READY", states, (m, index))
        names = {e.get("name") for e in index}
        self.assertIn("broken", names)
        self.assertIn("versioned", names)
        # {"ready": true}: only what is ready.
        r = MAIN.post("/v2/repository/index", {"ready": True})
        self.assertEqual(r.status, 200, r)
        ready = r.json()
        self.assertTrue(ready)
        self.assertEqual({e.get("state") for e in ready}, {"READY"}, ready)
        self.assertNotIn("broken", {e["name"] for e in ready})
        self.assertIn("add_sub", {e["name"] for e in ready})
        for bad in ({"ready": "yes"}, [1]):
            r = MAIN.post("/v2/repository/index", bad)
            self.assertEqual(r.status, 400, (bad, r))


class RestErrorTest(BerthTestCase):
    """Every bad request gets the exact status and {"error": "..."}; the server
    stays live and keeps answering good requests after each one."""

    def tearDown(self):
        self.assertEqual(MAIN.get("/v2/health/live").status, 200)
        a, b = add_sub_rows(1, offset=7.0)
        self.assertAddSub(MAIN, a, b)

    def post_infer(self, body, model="add_sub", headers=None):
        return MAIN.post("/v2/models/%s/infer" % model, body, headers=headers)

    def test_malformed_json(self):
        r = self.post_infer(b'{"inputs": [{"name": "INPUT0", ',
                           headers={"Content-Type": "application/json"})
        self.assertError(r, 400)

    def test_missing_inputs(self):
        self.assertError(self.post_infer({"id": "no-inputs"}), 400)

    def test_missing_one_input(self):
        a, _ = add_sub_rows(1)
        req = {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32", "data": a}]}
        self.assertError(self.post_infer(req), 400)

    def test_unknown_input_name(self):
        a, b = add_sub_rows(1)
        req = add_sub_request(a, b)
        req["inputs"].append({"name": "INPUT9", "shape": [1, 16], "datatype": "FP32", "data": a})
        self.assertError(self.post_infer(req), 400)

    def test_wrong_datatype(self):
        a, b = add_sub_rows(1)
        self.assertError(self.post_infer(add_sub_request(a, b, dtype="FP64")), 400)

    def test_wrong_shape(self):
        a, b = add_sub_rows(1)
        req = {"inputs": [
            {"name": "INPUT0", "shape": [1, 15], "datatype": "FP32", "data": a[:15]},
            {"name": "INPUT1", "shape": [1, 15], "datatype": "FP32", "data": b[:15]},
        ]}
        self.assertError(self.post_infer(req), 400)

    def test_element_count_mismatch(self):
        a, b = add_sub_rows(1)
        req = add_sub_request(a[:15], b, rows=1)
        self.assertError(self.post_infer(req), 400)

    def test_batch_above_max_batch_size(self):
        a, b = add_sub_rows(9)
        self.assertError(self.post_infer(add_sub_request(a, b)), 400)

    def test_unknown_model(self):
        a, b = add_sub_rows(1)
        self.assertError(self.post_infer(add_sub_request(a, b), model="no_such_model"), 404)

    def test_unknown_version(self):
        a, b = add_sub_rows(1)
        r = MAIN.post("/v2/models/add_sub/versions/99/infer", add_sub_request(a, b))
        self.assertError(r, 404)

    def test_binary_data_size_beyond_body(self):
        a, b = add_sub_rows(1)
        header = {"inputs": [
            {"name": "INPUT0", "shape": [1, 16], "datatype": "FP32",
             "parameters": {"binary_data_size": 64}},
            {"name": "INPUT1", "shape": [1, 16], "datatype": "FP32", "data": b},
        ]}
        body, headers = binary_body(header, [encode("FP32", a)[:10]])
        self.assertError(self.post_infer(body, headers=headers), 400)

    def test_header_length_beyond_body(self):
        a, b = add_sub_rows(1)
        body = json.dumps(add_sub_request(a, b)).encode("utf-8")
        headers = {"Inference-Header-Content-Length": str(len(body) + 100),
                   "Content-Type": "application/octet-stream"}
        self.assertError(self.post_infer(body, headers=headers), 400)

    def test_connections_over_the_limit_get_503(self):
        held = []
        try:
            refused = None
            for _ in range(LIMITED_MAX_CONNECTIONS + 8):
                conn = http.client.HTTPConnection("127.0.0.1", LIMITED.http_port, timeout=10)
                held.append(conn)
                try:
                    conn.request("GET", "/v2/health/live")
                    response = conn.getresponse()
                    body = response.read()
                except (ConnectionError, http.client.HTTPException):
                    # The server answers 503 and closes at once; a request that arrives after
                    # the close can meet a reset before the client reads the answer.
                    refused = (None, None)
                    break
                if response.status == 503:
                    refused = (response, body)
                    break
                self.assertEqual(response.status, 200)
            self.assertIsNotNone(refused, "no connection was refused")
            self.assertLessEqual(len(held) - 1, LIMITED_MAX_CONNECTIONS)
            response, body = refused
            if response is not None:
                self.assertEqual(response.getheader("Retry-After"), "1")
                self.assertIn("too many open connections", json.loads(body)["error"])
        finally:
            for conn in held:
                conn.close()
        # Closed connections are released and new ones are served again.
        deadline = time.monotonic() + 10
        while True:
            r = try_http(LIMITED.http_port, "GET", "/v2/health/live")
            if r is not None and r.status == 200:
                break
            self.assertLess(time.monotonic(), deadline, "connections were not released")
        metrics = http_call(LIMITED.http_port, "GET", "/metrics").body.decode()
        self.assertRegex(metrics, r"berth_http_connections_rejected_total [1-9]")

    def test_body_over_limit_413(self):
        # On the worker started with --max-request-bytes 65536.
        a, b = add_sub_rows(1)
        ok = http_call(LIMITED.http_port, "POST", "/v2/models/add_sub/infer", add_sub_request(a, b))
        self.assertEqual(ok.status, 200, ok)
        body = json.dumps(add_sub_request(a, b, id="x" * (2 * LIMITED_MAX_REQUEST_BYTES))).encode()
        self.assertGreater(len(body), LIMITED_MAX_REQUEST_BYTES)
        conn = http.client.HTTPConnection("127.0.0.1", LIMITED.http_port, timeout=30)
        try:
            try:
                conn.request("POST", "/v2/models/add_sub/infer", body=body,
                             headers={"Content-Type": "application/json"})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer before reading the whole body
            try:
                resp = conn.getresponse()
            except (ConnectionResetError, http.client.RemoteDisconnected) as e:
                self.fail("connection dropped without a 413 response: %r" % e)
            r = Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()
        self.assertError(r, 413)
        self.assertEqual(http_call(LIMITED.http_port, "GET", "/v2/health/live").status, 200)
        ok = http_call(LIMITED.http_port, "POST", "/v2/models/add_sub/infer", add_sub_request(a, b))
        self.assertEqual(ok.status, 200, ok)


class RestCompressionTest(BerthTestCase):
    """Content-Encoding on requests and Accept-Encoding on answers, as Triton's clients use
    them (--request-compression-algorithm), with Python's gzip and zlib as the codec."""

    def test_gzip_and_deflate_requests(self):
        a, b = add_sub_rows(2)
        plain = json.dumps(add_sub_request(a, b)).encode()
        exp0, _ = expected_add_sub(a, b)
        for coding, data in (("gzip", gzip.compress(plain)), ("deflate", zlib.compress(plain)),
                             ("x-gzip", gzip.compress(plain))):
            r = MAIN.post("/v2/models/add_sub/infer", data,
                          headers={"Content-Type": "application/json", "Content-Encoding": coding})
            self.assertEqual(r.status, 200, (coding, r))
            _, vals = parse_infer(r)
            self.assertEqual([f32(v) for v in vals["OUTPUT0"]], exp0)

    def test_compressed_binary_request_counts_the_header_in_decoded_bytes(self):
        a, b = add_sub_rows(1)
        header = {"inputs": [
            {"name": "INPUT0", "shape": [1, 16], "datatype": "FP32",
             "parameters": {"binary_data_size": 64}},
            {"name": "INPUT1", "shape": [1, 16], "datatype": "FP32",
             "parameters": {"binary_data_size": 64}}],
            "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}
        body, headers = binary_body(header, [encode("FP32", a), encode("FP32", b)])
        headers["Content-Encoding"] = "gzip"
        r = MAIN.post("/v2/models/add_sub/infer", gzip.compress(body), headers=headers)
        self.assertEqual(r.status, 200, r)
        _, vals = parse_infer(r)
        self.assertEqual([f32(v) for v in vals["OUTPUT0"]], expected_add_sub(a, b)[0])

    def test_compressed_answers_when_asked(self):
        a, b = add_sub_rows(1)
        for coding, decode_fn in (("gzip", gzip.decompress), ("deflate", zlib.decompress)):
            r = MAIN.post("/v2/models/add_sub/infer", add_sub_request(a, b),
                          headers={"Accept-Encoding": coding})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers.get("content-encoding"), coding)
            plain = Resp(r.status, {}, decode_fn(r.body))
            _, vals = parse_infer(plain)
            self.assertEqual([f32(v) for v in vals["OUTPUT0"]], expected_add_sub(a, b)[0])
            md = MAIN.get("/v2/models/add_sub", headers={"Accept-Encoding": coding})
            self.assertEqual(md.headers.get("content-encoding"), coding)
            self.assertEqual(json.loads(decode_fn(md.body))["name"], "add_sub")
        # Without Accept-Encoding (or with only codings berth does not write) the answer is
        # plain.
        for accept in (None, "br", "gzip;q=0"):
            headers = {"Accept-Encoding": accept} if accept else {}
            r = MAIN.get("/v2/models/add_sub", headers=headers)
            self.assertNotIn("content-encoding", r.headers)
            self.assertEqual(r.json()["name"], "add_sub")

    def test_unknown_coding_is_415_and_corrupt_body_400(self):
        a, b = add_sub_rows(1)
        plain = json.dumps(add_sub_request(a, b)).encode()
        r = MAIN.post("/v2/models/add_sub/infer", plain,
                      headers={"Content-Type": "application/json", "Content-Encoding": "br"})
        self.assertError(r, 415)
        self.assertIn("gzip or deflate", r.json()["error"])
        gz = gzip.compress(plain)
        for bad in (plain, gz[:len(gz) // 2], gz + b"junk"):
            r = MAIN.post("/v2/models/add_sub/infer", bad,
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
            self.assertError(r, 400)
        self.assertAddSub(MAIN, a, b)

    def test_decompression_bomb_is_413(self):
        # On the worker started with --max-request-bytes 65536: 1 MiB of JSON whitespace
        # compresses to about 1 KiB, far under the limit, and decodes to far over it.
        a, b = add_sub_rows(1)
        padded = json.dumps(add_sub_request(a, b)).encode() + b" " * (1 << 20)
        bomb = gzip.compress(padded)
        self.assertLess(len(bomb), LIMITED_MAX_REQUEST_BYTES)
        r = http_call(LIMITED.http_port, "POST", "/v2/models/add_sub/infer", bomb,
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        self.assertError(r, 413)
        self.assertIn("--max-request-bytes", r.json()["error"])
        ok = http_call(LIMITED.http_port, "POST", "/v2/models/add_sub/infer",
                       gzip.compress(json.dumps(add_sub_request(a, b)).encode()),
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        self.assertEqual(ok.status, 200, ok)

    def test_compressed_repository_index(self):
        r = MAIN.post("/v2/repository/index", gzip.compress(b'{"ready": true}'),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r)
        self.assertIn("add_sub", [e["name"] for e in r.json()])


class SharedMemoryTest(BerthTestCase):
    """Triton's system shared-memory extension, with regions made by Python's own
    multiprocessing.shared_memory (POSIX shm_open under /dev/shm)."""

    def setUp(self):
        self.segments = []

    def tearDown(self):
        MAIN.post("/v2/systemsharedmemory/unregister")
        for seg in self.segments:
            seg.close()
            try:
                seg.unlink()
            except FileNotFoundError:
                pass

    def segment(self, size):
        seg = shared_memory.SharedMemory(
            name="berth_it_%d_%d" % (os.getpid(), len(self.segments)), create=True, size=size)
        self.segments.append(seg)
        return seg, "/" + seg.name

    def register(self, name, key, byte_size, offset=0):
        return MAIN.post("/v2/systemsharedmemory/region/%s/register" % name,
                         {"key": key, "offset": offset, "byte_size": byte_size})

    @staticmethod
    def shm_tensor(name, region, byte_size, offset=0, rows=1):
        params = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
        if offset:
            params["shared_memory_offset"] = offset
        return {"name": name, "shape": [rows, 16], "datatype": "FP32", "parameters": params}

    def test_a_tensor_far_larger_than_the_request_body(self):
        # 4 x 784 FP32 elements in the region, a request body of a few hundred bytes: the
        # element count is bounded by the region's part, not by the body.
        x = [((i * 37) % 101) / 101.0 - 0.5 for i in range(4 * 784)]
        region, key = self.segment(len(x) * 4)
        region.buf[0:len(x) * 4] = encode("FP32", x)
        self.assertEqual(self.register("big", key, len(x) * 4).status, 200)
        params = {"shared_memory_region": "big", "shared_memory_byte_size": len(x) * 4}
        via_shm = MAIN.post("/v2/models/tiny_cnn/infer", {"inputs": [
            {"name": "input", "shape": [4, 1, 28, 28], "datatype": "FP32",
             "parameters": params}]})
        self.assertEqual(via_shm.status, 200, via_shm)
        inline = MAIN.post("/v2/models/tiny_cnn/infer", {"inputs": [
            {"name": "input", "shape": [4, 1, 28, 28], "datatype": "FP32", "data": x}]})
        self.assertEqual(parse_infer(via_shm)[1]["logits"], parse_infer(inline)[1]["logits"])
        # A shape with more elements than the part of the region it names holds bytes.
        r = MAIN.post("/v2/models/tiny_cnn/infer", {"inputs": [
            {"name": "input", "shape": [4, 1, 28, 28], "datatype": "FP32",
             "parameters": dict(params, shared_memory_byte_size=100)}]})
        self.assertError(r, 400)
        self.assertIn("shared_memory_byte_size", r.json()["error"])

    def test_inputs_and_outputs_through_shared_memory(self):
        a, b = add_sub_rows(2)
        inputs, in_key = self.segment(4096)
        outputs, out_key = self.segment(4096)
        inputs.buf[0:128] = encode("FP32", a)
        inputs.buf[256:384] = encode("FP32", b)
        # The region starts 256 bytes into the output object.
        self.assertEqual(self.register("in", in_key, 512).status, 200)
        r = self.register("out", out_key, 1024, offset=256)
        self.assertEqual(r.status, 200, r)
        r = MAIN.post("/v2/models/add_sub/infer", {
            "inputs": [self.shm_tensor("INPUT0", "in", 128, rows=2),
                       self.shm_tensor("INPUT1", "in", 128, offset=256, rows=2)],
            "outputs": [{"name": "OUTPUT0", "parameters": {
                            "shared_memory_region": "out", "shared_memory_byte_size": 128}},
                        {"name": "OUTPUT1", "parameters": {
                            "shared_memory_region": "out", "shared_memory_byte_size": 512,
                            "shared_memory_offset": 128}}]})
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        by_name = {o["name"]: o for o in doc["outputs"]}
        self.assertNotIn("data", by_name["OUTPUT0"])
        self.assertEqual(by_name["OUTPUT0"]["parameters"],
                         {"shared_memory_region": "out", "shared_memory_byte_size": 128})
        self.assertEqual(by_name["OUTPUT1"]["parameters"]["shared_memory_offset"], 128)
        self.assertEqual(by_name["OUTPUT0"]["shape"], [2, 16])
        exp0, exp1 = expected_add_sub(a, b)
        self.assertEqual([f32(v) for v in decode("FP32", bytes(outputs.buf[256:384]))], exp0)
        self.assertEqual([f32(v) for v in decode("FP32", bytes(outputs.buf[384:512]))], exp1)
        # Inputs from memory, outputs in the answer (binary), mixed.
        r = MAIN.post("/v2/models/add_sub/infer", {
            "inputs": [self.shm_tensor("INPUT0", "in", 128, rows=2),
                       {"name": "INPUT1", "shape": [2, 16], "datatype": "FP32", "data": b}],
            "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([f32(v) for v in parse_infer(r)[1]["OUTPUT0"]], exp0)

    def test_status_register_and_unregister(self):
        seg, key = self.segment(1000)
        self.assertIn("system_shared_memory", MAIN.get("/v2").json()["extensions"])
        self.assertEqual(self.register("r1", key, 600).status, 200)
        self.assertEqual(self.register("r2", key, 400, offset=600).status, 200)
        status = MAIN.get("/v2/systemsharedmemory/status").json()
        self.assertEqual(status, [{"name": "r1", "key": key, "offset": 0, "byte_size": 600},
                                  {"name": "r2", "key": key, "offset": 600, "byte_size": 400}])
        one = MAIN.get("/v2/systemsharedmemory/region/r2/status")
        self.assertEqual([e["name"] for e in one.json()], ["r2"])
        self.assertError(MAIN.get("/v2/systemsharedmemory/region/nope/status"), 404)
        # A taken name is a conflict; the first registration stays.
        r = self.register("r1", key, 10)
        self.assertError(r, 409)
        self.assertIn("already registered", r.json()["error"])
        self.assertEqual(MAIN.post("/v2/systemsharedmemory/region/r1/unregister").status, 200)
        self.assertError(MAIN.post("/v2/systemsharedmemory/region/r1/unregister"), 404)
        self.assertEqual([e["name"] for e in MAIN.get("/v2/systemsharedmemory/status").json()],
                         ["r2"])
        self.assertEqual(MAIN.post("/v2/systemsharedmemory/unregister").status, 200)
        self.assertEqual(MAIN.get("/v2/systemsharedmemory/status").json(), [])
        self.assertError(MAIN.get("/v2/systemsharedmemory/region/r2/register"), 405)

    def test_bad_registrations(self):
        seg, key = self.segment(100)
        cases = [
            ("a", {"key": "/berth_no_such_object_%d" % os.getpid(), "byte_size": 8}, 404, "no shared-memory object"),
            ("a", {"key": "/../../etc/passwd", "byte_size": 8}, 400, "POSIX shared-memory"),
            ("a", {"key": "/dev/shm/" + seg.name, "byte_size": 8}, 400, "POSIX shared-memory"),
            ("a", {"key": seg.name, "byte_size": 8}, 400, "POSIX shared-memory"),
            ("a", {"key": key, "byte_size": 101}, 400, "ends past the end"),
            ("a", {"key": key, "byte_size": 8, "offset": 2 ** 64 - 4}, 400, "overflows"),
            ("a", {"key": key, "byte_size": 0}, 400, "above 0"),
            ("a", {"key": key, "byte_size": -1}, 400, "byte_size"),
            ("a", {"key": key}, 400, "byte_size"),
            ("..", {"key": key, "byte_size": 8}, 400, "region name"),
        ]
        for name, body, status, needle in cases:
            r = MAIN.post("/v2/systemsharedmemory/region/%s/register" % name, body)
            self.assertError(r, status)
            self.assertIn(needle, r.json()["error"], body)
        self.assertEqual(MAIN.get("/v2/systemsharedmemory/status").json(), [])

    def test_bad_references_are_refused_and_a_shrunk_object_is_an_error(self):
        a, b = add_sub_rows(1)
        seg, key = self.segment(256)
        seg.buf[0:64] = encode("FP32", a)
        seg.buf[64:128] = encode("FP32", b)
        self.assertEqual(self.register("r", key, 256).status, 200)
        good1 = self.shm_tensor("INPUT1", "r", 64, offset=64)
        cases = [
            ([self.shm_tensor("INPUT0", "nope", 64), good1], "not registered"),
            ([self.shm_tensor("INPUT0", "r", 64, offset=224), good1], "do not fit"),
            ([self.shm_tensor("INPUT0", "r", 60), good1], "INPUT0"),
            ([dict(self.shm_tensor("INPUT0", "r", 64), data=a), good1], "carries data too"),
            ([{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32",
               "parameters": {"shared_memory_region": "r"}}, good1], "no shared_memory_byte_size"),
            ([{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32",
               "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 64,
                              "shared_memory_colour": 1}}, good1], "shared_memory_colour"),
            ([{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32",
               "parameters": {"shared_memory_region": 5, "shared_memory_byte_size": 64}}, good1],
             "must be a string"),
        ]
        for inputs, needle in cases:
            r = MAIN.post("/v2/models/add_sub/infer", {"inputs": inputs})
            self.assertError(r, 400)
            self.assertIn(needle, r.json()["error"])
        r = MAIN.post("/v2/models/add_sub/infer", {
            "inputs": [self.shm_tensor("INPUT0", "r", 64), good1],
            "outputs": [{"name": "OUTPUT0", "parameters": {"shared_memory_region": "r",
                                                           "shared_memory_byte_size": 32}}]})
        self.assertError(r, 400)
        self.assertIn("more than the shared_memory_byte_size", r.json()["error"])
        # The object shrinks under a registered region: an error, and the worker goes on.
        with open("/dev/shm/" + seg.name, "r+b") as f:
            f.truncate(16)
        r = MAIN.post("/v2/models/add_sub/infer",
                      {"inputs": [self.shm_tensor("INPUT0", "r", 64), good1]})
        self.assertError(r, 400)
        self.assertIn("truncated", r.json()["error"])
        self.assertAddSub(MAIN, a, b)

    def test_cuda_trace_and_logging_say_why(self):
        for method, path in (("GET", "/v2/cudasharedmemory/status"),
                             ("POST", "/v2/cudasharedmemory/region/x/register"),
                             ("GET", "/v2/trace/setting"), ("POST", "/v2/logging")):
            r = http_call(MAIN.http_port, method, path, body={} if method == "POST" else None)
            self.assertError(r, 501)
            self.assertIn("not served", r.json()["error"])


class RestRepositoryTest(BerthTestCase):
    def _states(self, model):
        return {e.get("state") for e in index_entries(MAIN, model)}

    def test_unload_and_load(self):
        a, b = add_sub_rows(2)
        try:
            r = MAIN.post("/v2/repository/models/add_sub/unload", {})
            self.assertEqual(r.status, 200, r)
            self.wait_model_ready("add_sub", False)
            r = MAIN.post("/v2/models/add_sub/infer", add_sub_request(a, b))
            self.assertTrue(400 <= r.status < 500 or r.status == 503, r)
            self.assertError(r, r.status)
            self.assertTrue(poll(lambda: self._states("add_sub") == {"UNAVAILABLE"}, 10),
                            "index: %r" % index_entries(MAIN, "add_sub"))

            r = MAIN.post("/v2/repository/models/add_sub/load", {})
            self.assertEqual(r.status, 200, r)
            self.wait_model_ready("add_sub", True)
            self.assertAddSub(MAIN, a, b)
            self.assertIn("READY", self._states("add_sub"))
        finally:
            r = try_http(MAIN.http_port, "GET", "/v2/models/add_sub/ready")
            if r is None or r.status != 200:
                MAIN.post("/v2/repository/models/add_sub/load", {})
                self.wait_model_ready("add_sub", True)

    def test_load_unknown_model_fails(self):
        r = MAIN.post("/v2/repository/models/no_such_model/load", {})
        self.assertTrue(400 <= r.status < 500, r)
        self.assertError(r, r.status)

    def test_unload_releases_memory(self):
        size = int(BIG_MB * 1024 * 1024)
        half = size // 2

        def big_infer(x):
            r = MAIN.post("/v2/models/big/infer", {"inputs": [
                {"name": "x", "shape": [1], "datatype": "FP32", "data": [x]}]})
            self.assertEqual(r.status, 200, r)
            return parse_infer(r)[1]["y"]

        try:
            # `big` was loaded at startup: y = x + table[int(x)], table[i] = i % 1024.
            self.assertEqual(big_infer(5.0), [10.0])
            self.assertEqual(big_infer(1030.0), [1036.0])
            rss_loaded = MAIN.rss_bytes()
            r = MAIN.post("/v2/repository/models/big/unload", {})
            self.assertEqual(r.status, 200, r)
            self.wait_model_ready("big", False)
            dropped = poll(lambda: rss_loaded - MAIN.rss_bytes() >= half, 20, 0.1)
            rss_unloaded = MAIN.rss_bytes()
            self.assertTrue(dropped, "RSS %d MiB loaded -> %d MiB after unloading a %d MiB model"
                            % (rss_loaded >> 20, rss_unloaded >> 20, size >> 20))

            # Load again: the memory comes back, and goes again on unload.
            r = MAIN.post("/v2/repository/models/big/load", {})
            self.assertEqual(r.status, 200, r)
            self.wait_model_ready("big", True)
            self.assertEqual(big_infer(7.0), [14.0])
            rss_reloaded = MAIN.rss_bytes()
            self.assertGreaterEqual(rss_reloaded - rss_unloaded, half,
                                    "loading a %d MiB model grew RSS only %d -> %d MiB"
                                    % (size >> 20, rss_unloaded >> 20, rss_reloaded >> 20))
            r = MAIN.post("/v2/repository/models/big/unload", {})
            self.assertEqual(r.status, 200, r)
            dropped = poll(lambda: rss_reloaded - MAIN.rss_bytes() >= half, 20, 0.1)
            self.assertTrue(dropped, "RSS %d MiB -> %d MiB after the second unload"
                            % (rss_reloaded >> 20, MAIN.rss_bytes() >> 20))
        finally:
            try_http(MAIN.http_port, "POST", "/v2/repository/models/big/unload", body={})


class RestLoadOverrideTest(BerthTestCase):
    """POST /v2/repository/models/{m}/load with "config" and "file:" parameters."""

    @classmethod
    def setUpClass(cls):
        cls.model_file = os.path.join(MODELS, "add_sub", "1", "model.onnx")
        target = os.path.join(MAIN.repo, "add_sub_ovr")
        shutil.copytree(os.path.join(MODELS, "add_sub"), target)
        with open(os.path.join(target, "config.pbtxt"), "r+") as f:
            text = f.read().replace('name: "add_sub"', 'name: "add_sub_ovr"')
            f.seek(0)
            f.truncate()
            f.write(text)

    @classmethod
    def tearDownClass(cls):
        for name in ("add_sub_ovr", "from_files"):
            MAIN.post("/v2/repository/models/%s/unload" % name)

    def config_json(self, name, **changes):
        config = MAIN.get("/v2/models/add_sub/config").json()
        config["name"] = name
        config.update(changes)
        return json.dumps(config)

    def load(self, name, parameters):
        return MAIN.post("/v2/repository/models/%s/load" % name, {"parameters": parameters})

    def leftover_load_dirs(self):
        return [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("berth-load-")]

    def test_config_override_replaces_config_pbtxt(self):
        r = self.load("add_sub_ovr", {"config": self.config_json("add_sub_ovr", max_batch_size=16)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(MAIN.get("/v2/models/add_sub_ovr/config").json()["max_batch_size"], 16)
        a, b = add_sub_rows(12)  # more rows than config.pbtxt's max_batch_size of 8
        self.assertAddSub(MAIN, a, b, path="/v2/models/add_sub_ovr/infer")
        # A minimal override: the rest comes from the model file, as for a model without
        # config.pbtxt.
        r = self.load("add_sub_ovr", {"config": json.dumps({"max_batch_size": 2})})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(MAIN.get("/v2/models/add_sub_ovr/config").json()["max_batch_size"], 2)
        self.assertError(MAIN.post("/v2/models/add_sub_ovr/infer",
                                   add_sub_request(*add_sub_rows(3))), 400)
        # A load without an override goes back to config.pbtxt.
        self.assertEqual(MAIN.post("/v2/repository/models/add_sub_ovr/load").status, 200)
        self.assertEqual(MAIN.get("/v2/models/add_sub_ovr/config").json()["max_batch_size"], 8)

    def test_malformed_overrides_are_400_and_change_nothing(self):
        self.assertEqual(MAIN.post("/v2/repository/models/add_sub_ovr/load").status, 200)
        cases = [
            ({"config": "{not json"}, "not a valid model config"),
            ({"config": json.dumps({"max_batch_sise": 3})}, "max_batch_sise"),
            ({"config": json.dumps({"max_batch_size": "many"})}, "max_batch_size"),
            ({"config": {"max_batch_size": 3}}, "must be a string"),
            ({"config": self.config_json("add_sub")}, "names the model 'add_sub'"),
            ({"cofnig": "{}"}, "cofnig"),
            ({"file:1/model.onnx": "AAAA"}, "needs a \"config\""),
        ]
        for parameters, needle in cases:
            r = self.load("add_sub_ovr", parameters)
            self.assertError(r, 400)
            self.assertIn(needle, r.json()["error"], parameters)
        for body in (b"[]", b"{\"parameters\": 3}", b"{\"params\": {}}", b"{"):
            r = MAIN.post("/v2/repository/models/add_sub_ovr/load", body,
                          headers={"Content-Type": "application/json"})
            self.assertError(r, 400)
        self.assertEqual(MAIN.get("/v2/models/add_sub_ovr/config").json()["max_batch_size"], 8)
        self.assertAddSub(MAIN, *add_sub_rows(1), path="/v2/models/add_sub_ovr/infer")

    def test_file_overrides_load_a_model_from_the_request(self):
        with open(self.model_file, "rb") as f:
            content = f.read()
        before = set(self.leftover_load_dirs())
        r = self.load("from_files", {"config": json.dumps({"max_batch_size": 4}),
                                     "file:1/model.onnx": base64.b64encode(content).decode()})
        self.assertEqual(r.status, 200, r)
        self.assertAddSub(MAIN, *add_sub_rows(3), path="/v2/models/from_files/infer")
        self.assertIn("READY", [e["state"] for e in index_entries(MAIN, "from_files")])
        # The files were only needed while the engine loaded them.
        self.assertEqual(set(self.leftover_load_dirs()) - before, set())
        self.assertFalse(os.path.exists(os.path.join(MAIN.repo, "from_files")))

    def test_file_override_paths_stay_inside_the_model(self):
        config = json.dumps({"max_batch_size": 4})
        for key in ("file:../model.onnx", "file:1/../../x", "file:1//model.onnx", "file:model.onnx",
                    "file:0/model.onnx", "file:01/model.onnx", "file:/etc/passwd",
                    "file:1/.hidden", "file:1/" + "/".join(["d"] * 10)):
            r = self.load("from_files", {"config": config, key: "AAAA"})
            self.assertError(r, 400)
            self.assertIn("file:<version>/<file name>", r.json()["error"], key)
        r = self.load("from_files", {"config": config, "file:1/model.onnx": "not base64!"})
        self.assertError(r, 400)
        self.assertIn("base64", r.json()["error"])


class RestStatsConfigTest(BerthTestCase):
    def test_config(self):
        r = MAIN.get("/v2/models/add_sub/config")
        self.assertEqual(r.status, 200, r)
        cfg = r.json()
        self.assertEqual(cfg["name"], "add_sub")
        self.assertEqual(cfg.get("platform"), "onnxruntime_onnx")
        self.assertIn("dynamic_batching", cfg)
        db = cfg["dynamic_batching"]
        # Numbers, as Triton writes them (not protobuf's strings for 64-bit integers).
        self.assertIs(type(cfg["max_batch_size"]), int)
        self.assertEqual(cfg["max_batch_size"], 8)
        self.assertEqual(db["preferred_batch_size"], [4, 8])
        self.assertEqual(db["max_queue_delay_microseconds"], 500)
        self.assertEqual([i["name"] for i in cfg["input"]], ["INPUT0", "INPUT1"])
        self.assertEqual(cfg["input"][0]["dims"], [16])
        self.assertIs(type(cfg["input"][0]["dims"][0]), int)
        self.assertEqual(cfg["input"][0]["data_type"], "TYPE_FP32")

    def test_config_inferred_for_configless_model(self):
        r = MAIN.get("/v2/models/tiny_cnn/config")
        self.assertEqual(r.status, 200, r)
        cfg = r.json()
        self.assertEqual(cfg["name"], "tiny_cnn")
        self.assertEqual([i["name"] for i in cfg["input"]], ["input"])
        self.assertEqual([o["name"] for o in cfg["output"]], ["logits"])

    def test_stats_count_an_inference(self):
        before = model_stats(MAIN, "add_sub")
        for key in ("inference_count", "execution_count", "inference_stats", "batch_stats"):
            self.assertIn(key, before)
        for key in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output"):
            self.assertIn(key, before["inference_stats"])
        a, b = add_sub_rows(3, offset=2.0)
        self.assertAddSub(MAIN, a, b)
        after = model_stats(MAIN, "add_sub")
        for key in ("inference_count", "execution_count", "last_inference"):
            self.assertIs(type(after[key]), int, (key, after[key]))
        for key in ("success", "queue", "compute_infer", "cache_hit", "cache_miss"):
            for field in ("count", "ns"):
                self.assertIs(type(after["inference_stats"][key][field]), int, (key, after))
        self.assertIs(type(after["batch_stats"][0]["batch_size"]), int)
        succ_b, succ_a = before["inference_stats"]["success"], after["inference_stats"]["success"]
        self.assertEqual(int(succ_a["count"]) - int(succ_b["count"]), 1)
        self.assertGreater(int(succ_a["ns"]), int(succ_b["ns"]))
        self.assertEqual(int(after["inference_count"]) - int(before["inference_count"]), 3)
        self.assertEqual(int(after["execution_count"]) - int(before["execution_count"]), 1)
        self.assertGreater(int(after["last_inference"]), 0)
        sizes = {int(s["batch_size"]): int(s["compute_infer"]["count"]) for s in after["batch_stats"]}
        self.assertGreaterEqual(sizes.get(3, 0), 1, after["batch_stats"])

    def test_warm_up_counts_in_no_statistic(self):
        # A worker of its own, so that nothing but its warm-ups ran before the first read.
        repo = tempfile.mkdtemp(dir=TMP, prefix="fresh-")
        shutil.copytree(os.path.join(MODELS, "add_sub"), os.path.join(repo, "add_sub"))
        worker = Worker("fresh", repo, free_ports(2))
        worker.wait_ready(["add_sub"])
        try:
            stats = model_stats(worker, "add_sub")
            self.assertEqual(stats["inference_count"], 0, stats)
            self.assertEqual(stats["execution_count"], 0, stats)
            for key in ("success", "fail", "queue", "compute_input", "compute_infer",
                        "compute_output", "cache_hit", "cache_miss"):
                self.assertEqual(stats["inference_stats"][key], {"count": 0, "ns": 0}, key)
            self.assertEqual(stats["batch_stats"], [])
            metrics = worker.get("/metrics").body.decode()
            queued = [line for line in metrics.splitlines()
                      if line.startswith("berth_inference_queue_duration_seconds_count")
                      and 'model="add_sub"' in line]
            self.assertTrue(queued, "no queue histogram for add_sub")
            self.assertTrue(all(line.endswith(" 0") for line in queued), queued)
            a, b = add_sub_rows(2)
            self.assertAddSub(worker, a, b)
            after = model_stats(worker, "add_sub")
            self.assertEqual(after["inference_stats"]["success"]["count"], 1)
            self.assertEqual(after["inference_stats"]["queue"]["count"], 1)
            self.assertEqual(after["inference_count"], 2)
            # Queue time is part of the request's time: a warm-up stamp from the epoch is not.
            self.assertLessEqual(after["inference_stats"]["queue"]["ns"],
                                 after["inference_stats"]["success"]["ns"])
        finally:
            worker.stop()

    def test_dynamic_batching_under_concurrency(self):
        n = 32
        a, b = add_sub_rows(1)
        exp0, exp1 = expected_add_sub(a, b)
        body = json.dumps(add_sub_request(a, b)).encode("utf-8")
        attempts = []
        for attempt in range(3):
            before = model_stats(MAIN, "add_sub")
            barrier = threading.Barrier(n)

            def one(_):
                conn = http.client.HTTPConnection("127.0.0.1", MAIN.http_port, timeout=30)
                try:
                    conn.connect()
                    barrier.wait(timeout=30)
                    conn.request("POST", "/v2/models/add_sub/infer", body=body,
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
                finally:
                    conn.close()

            with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
                results = list(pool.map(one, range(n)))
            for r in results:
                self.assertEqual(r.status, 200, r)
                _, vals = parse_infer(r)
                self.assertEqual([f32(v) for v in vals["OUTPUT0"]], exp0)
                self.assertEqual([f32(v) for v in vals["OUTPUT1"]], exp1)
            after = model_stats(MAIN, "add_sub")
            d_inf = int(after["inference_count"]) - int(before["inference_count"])
            d_exec = int(after["execution_count"]) - int(before["execution_count"])
            self.assertEqual(d_inf, n)
            attempts.append((d_inf, d_exec))
            if d_exec < d_inf:
                batched = [int(s["batch_size"]) for s in after["batch_stats"]
                           if int(s["batch_size"]) > 1 and int(s["compute_infer"]["count"]) > 0]
                self.assertTrue(batched, after["batch_stats"])
                return
        self.fail("no request was batched in 3 bursts of %d (inferences, executions): %r"
                  % (n, attempts))

    def test_metrics(self):
        a, b = add_sub_rows(1)
        self.assertAddSub(MAIN, a, b)
        r = MAIN.get("/metrics")
        self.assertEqual(r.status, 200, r)
        text = r.body.decode("utf-8")
        found = []
        for line in text.splitlines():
            m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}\s+(\S+)", line)
            if (m and m.group(1) == "berth_inference_requests_total"
                    and 'model="add_sub"' in m.group(2) and 'outcome="success"' in m.group(2)):
                found.append(float(m.group(3)))
        self.assertTrue(found, "no berth_inference_requests_total{outcome=\"success\","
                        "model=\"add_sub\"} in:\n" + text[:3000])
        self.assertGreaterEqual(max(found), 1.0)

        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed: /metrics format not linted")
        res = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True)
        self.assertEqual(res.returncode, 0, "promtool check metrics:\n%s%s"
                         % (res.stdout.decode(), res.stderr.decode()))


# ---------------------------------------------------------------------------
# gRPC


class GrpcTest(BerthTestCase):
    @classmethod
    def setUpClass(cls):
        if PB is None:
            raise RuntimeError("cannot build the gRPC client: %s" % PB_ERROR)
        import grpc
        cls.grpc = grpc
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % MAIN.grpc_port)
        grpc.channel_ready_future(cls.channel).result(timeout=10)
        cls.stub = PB.svc_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    # helpers
    def call(self, method, req):
        return getattr(self.stub, method)(req, timeout=20)

    def assertCode(self, code, method, req):
        with self.assertRaises(self.grpc.RpcError) as cm:
            self.call(method, req)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        self.assertTrue(cm.exception.details(), "empty error details")

    def add_sub_req(self, a, b, rows, raw=True, outputs=None, rid=""):
        req = PB.svc.ModelInferRequest(model_name="add_sub", id=rid)
        for name, vals in (("INPUT0", a), ("INPUT1", b)):
            t = req.inputs.add(name=name, datatype="FP32", shape=[rows, len(vals) // rows])
            if raw:
                req.raw_input_contents.append(encode("FP32", vals))
            else:
                t.contents.fp32_contents.extend(vals)
        for o in outputs or []:
            req.outputs.add(name=o)
        return req

    @staticmethod
    def outputs(resp):
        """{name: (datatype, shape, values)} from raw_output_contents or typed contents."""
        out = {}
        for i, t in enumerate(resp.outputs):
            if len(resp.raw_output_contents):
                vals = decode(t.datatype, resp.raw_output_contents[i])
            else:
                c = t.contents
                vals = {
                    "BOOL": c.bool_contents, "UINT8": c.uint_contents, "UINT16": c.uint_contents,
                    "UINT32": c.uint_contents, "UINT64": c.uint64_contents, "INT8": c.int_contents,
                    "INT16": c.int_contents, "INT32": c.int_contents, "INT64": c.int64_contents,
                    "FP32": c.fp32_contents, "FP64": c.fp64_contents, "BYTES": c.bytes_contents,
                }[t.datatype]
                vals = list(vals)
            out[t.name] = (t.datatype, list(t.shape), vals)
        return out

    def assertAddSubResp(self, resp, a, b, rows):
        outs = self.outputs(resp)
        exp0, exp1 = expected_add_sub(a, b)
        self.assertEqual(outs["OUTPUT0"][:2], ("FP32", [rows, 16]))
        self.assertEqual(outs["OUTPUT1"][:2], ("FP32", [rows, 16]))
        self.assertEqual([f32(v) for v in outs["OUTPUT0"][2]], exp0)
        self.assertEqual([f32(v) for v in outs["OUTPUT1"][2]], exp1)

    # tests
    def test_live_ready(self):
        self.assertTrue(self.call("ServerLive", PB.svc.ServerLiveRequest()).live)
        self.assertTrue(self.call("ServerReady", PB.svc.ServerReadyRequest()).ready)
        self.assertTrue(self.call("ModelReady", PB.svc.ModelReadyRequest(name="add_sub")).ready)
        self.assertTrue(self.call("ModelReady",
                                  PB.svc.ModelReadyRequest(name="add_sub", version="1")).ready)
        try:
            self.assertFalse(self.call("ModelReady", PB.svc.ModelReadyRequest(name="broken")).ready)
        except self.grpc.RpcError as e:
            self.assertNotEqual(e.code(), self.grpc.StatusCode.OK)

    def test_server_metadata_matches_rest(self):
        md = self.call("ServerMetadata", PB.svc.ServerMetadataRequest())
        rest = MAIN.get("/v2").json()
        self.assertEqual(md.name, rest["name"])
        self.assertEqual(md.version, rest["version"])
        self.assertEqual(sorted(md.extensions), sorted(rest["extensions"]))

    def test_model_metadata(self):
        md = self.call("ModelMetadata", PB.svc.ModelMetadataRequest(name="add_sub"))
        self.assertEqual(md.name, "add_sub")
        self.assertEqual(list(md.versions), ["1"])
        self.assertEqual(md.platform, "onnxruntime_onnx")
        self.assertEqual({t.name: (t.datatype, list(t.shape)) for t in md.inputs},
                         {"INPUT0": ("FP32", [-1, 16]), "INPUT1": ("FP32", [-1, 16])})
        self.assertEqual({t.name: (t.datatype, list(t.shape)) for t in md.outputs},
                         {"OUTPUT0": ("FP32", [-1, 16]), "OUTPUT1": ("FP32", [-1, 16])})

    def test_infer_raw(self):
        a, b = add_sub_rows(2, offset=3.0)
        resp = self.call("ModelInfer", self.add_sub_req(a, b, 2, rid="g-1"))
        self.assertEqual(resp.model_name, "add_sub")
        self.assertEqual(resp.model_version, "1")
        self.assertEqual(resp.id, "g-1")
        self.assertAddSubResp(resp, a, b, 2)

    def test_infer_typed_contents(self):
        a, b = add_sub_rows(3, offset=-1.0)
        resp = self.call("ModelInfer", self.add_sub_req(a, b, 3, raw=False))
        self.assertAddSubResp(resp, a, b, 3)
        resp = self.call("ModelInfer", self.add_sub_req(a, b, 3, raw=False, outputs=["OUTPUT1"]))
        outs = self.outputs(resp)
        self.assertEqual(list(outs), ["OUTPUT1"])
        self.assertEqual([f32(v) for v in outs["OUTPUT1"][2]], expected_add_sub(a, b)[1])

    def test_infer_identity_all_raw(self):
        req = PB.svc.ModelInferRequest(model_name="identity_all")
        for t, v in IDENTITY_VALUES.items():
            req.inputs.add(name="IN_" + t, datatype=t, shape=[len(v)])
            req.raw_input_contents.append(encode(t, v))
        resp = self.call("ModelInfer", req)
        outs = self.outputs(resp)
        self.assertEqual(set(outs), {"OUT_" + t for t in IDENTITY_TYPES})
        for t, sent in IDENTITY_VALUES.items():
            with self.subTest(datatype=t):
                dtype, shape, vals = outs["OUT_" + t]
                self.assertEqual((dtype, shape), (t, [len(sent)]))
                self.assertEqual(norm(t, vals), norm(t, sent))

    def test_bytes_keep_every_byte(self):
        req = PB.svc.ModelInferRequest(model_name="identity_all")
        for t, v in IDENTITY_VALUES.items():
            values = EVERY_BYTE if t == "BYTES" else v
            req.inputs.add(name="IN_" + t, datatype=t, shape=[len(values)])
            req.raw_input_contents.append(encode(t, values))
        req.outputs.add(name="OUT_BYTES")
        resp = self.call("ModelInfer", req)
        self.assertEqual(self.outputs(resp)["OUT_BYTES"][2], EVERY_BYTE)

    def test_model_config(self):
        cfg = self.call("ModelConfig", PB.svc.ModelConfigRequest(name="add_sub")).config
        self.assertEqual(cfg.name, "add_sub")
        self.assertEqual(cfg.platform, "onnxruntime_onnx")
        self.assertEqual(cfg.max_batch_size, 8)
        self.assertTrue(cfg.HasField("dynamic_batching"))
        self.assertEqual(list(cfg.dynamic_batching.preferred_batch_size), [4, 8])
        self.assertEqual(cfg.dynamic_batching.max_queue_delay_microseconds, 500)
        self.assertEqual([(i.name, i.data_type, list(i.dims)) for i in cfg.input],
                         [("INPUT0", PB.cfg.TYPE_FP32, [16]), ("INPUT1", PB.cfg.TYPE_FP32, [16])])
        vcfg = self.call("ModelConfig", PB.svc.ModelConfigRequest(name="versioned")).config
        self.assertEqual(vcfg.version_policy.latest.num_versions, 2)

    def test_model_statistics(self):
        def stats():
            resp = self.call("ModelStatistics", PB.svc.ModelStatisticsRequest(name="add_sub"))
            s = [m for m in resp.model_stats if m.name == "add_sub" and m.version == "1"]
            self.assertEqual(len(s), 1, resp)
            return s[0]
        before = stats()
        a, b = add_sub_rows(2)
        self.call("ModelInfer", self.add_sub_req(a, b, 2))
        after = stats()
        self.assertEqual(after.inference_stats.success.count - before.inference_stats.success.count, 1)
        self.assertEqual(after.inference_count - before.inference_count, 2)
        self.assertGreater(after.inference_stats.success.ns, before.inference_stats.success.ns)

    def test_repository_index(self):
        resp = self.call("RepositoryIndex", PB.svc.RepositoryIndexRequest())
        by_name = {}
        for m in resp.models:
            by_name.setdefault(m.name, []).append(m)
        self.assertIn("READY", [m.state for m in by_name.get("add_sub", [])], resp)
        broken = [m for m in by_name.get("broken", []) if m.state == "UNAVAILABLE"]
        self.assertTrue(broken, resp)
        self.assertTrue(broken[0].reason.strip(), resp)

    def test_unload_load(self):
        x = [0.5, 1.5, 2.5, 3.5]

        def infer():
            req = PB.svc.ModelInferRequest(model_name="versioned")
            req.inputs.add(name="x", datatype="FP32", shape=[1, 4])
            req.raw_input_contents.append(encode("FP32", x))
            return self.call("ModelInfer", req)

        def ready():
            try:
                return self.call("ModelReady", PB.svc.ModelReadyRequest(name="versioned")).ready
            except self.grpc.RpcError:
                return False

        try:
            self.call("RepositoryModelUnload",
                      PB.svc.RepositoryModelUnloadRequest(model_name="versioned"))
            self.assertTrue(poll(lambda: not ready(), 20), "versioned still ready after unload")
            with self.assertRaises(self.grpc.RpcError) as cm:
                infer()
            self.assertNotEqual(cm.exception.code(), self.grpc.StatusCode.OK)
            self.call("RepositoryModelLoad", PB.svc.RepositoryModelLoadRequest(model_name="versioned"))
            self.assertTrue(poll(ready, 20), "versioned not ready after load")
            resp = infer()
            self.assertEqual(resp.model_version, "3")
            self.assertEqual(self.outputs(resp)["y"][2], [v + 3.0 for v in x])
        finally:
            if not ready():
                self.call("RepositoryModelLoad",
                          PB.svc.RepositoryModelLoadRequest(model_name="versioned"))
                poll(ready, 20)

    def test_load_with_config_and_file_overrides(self):
        with open(os.path.join(MODELS, "add_sub", "1", "model.onnx"), "rb") as f:
            content = f.read()
        req = PB.svc.RepositoryModelLoadRequest(model_name="grpc_files")
        req.parameters["config"].string_param = json.dumps({"max_batch_size": 3})
        req.parameters["file:1/model.onnx"].bytes_param = content
        try:
            self.call("RepositoryModelLoad", req)
            config = self.call("ModelConfig", PB.svc.ModelConfigRequest(name="grpc_files")).config
            self.assertEqual(config.max_batch_size, 3)
            a, b = add_sub_rows(3)
            infer = self.add_sub_req(a, b, 3)
            infer.model_name = "grpc_files"
            self.assertAddSubResp(self.call("ModelInfer", infer), a, b, 3)
        finally:
            self.call("RepositoryModelUnload",
                      PB.svc.RepositoryModelUnloadRequest(model_name="grpc_files"))
        bad = [("config", "string_param", "{oops", "not a valid model config"),
               ("config", "int64_param", 3, "string_param"),
               ("file:1/model.onnx", "string_param", "x", "bytes_param"),
               ("file:../x", "bytes_param", b"x", "file:<version>/<file name>"),
               ("colour", "bool_param", True, "colour")]
        for key, kind, value, needle in bad:
            req = PB.svc.RepositoryModelLoadRequest(model_name="grpc_files")
            req.parameters["config"].string_param = "{}"
            setattr(req.parameters[key], kind, value)
            with self.assertRaises(self.grpc.RpcError) as cm:
                self.call("RepositoryModelLoad", req)
            self.assertEqual(cm.exception.code(), self.grpc.StatusCode.INVALID_ARGUMENT, key)
            self.assertIn(needle, cm.exception.details(), key)

    def test_system_shared_memory(self):
        a, b = add_sub_rows(1)
        seg = shared_memory.SharedMemory(name="berth_it_grpc_%d" % os.getpid(), create=True,
                                         size=512)
        try:
            seg.buf[0:64] = encode("FP32", a)
            seg.buf[64:128] = encode("FP32", b)
            key = "/" + seg.name
            self.call("SystemSharedMemoryRegister", PB.svc.SystemSharedMemoryRegisterRequest(
                name="g", key=key, offset=0, byte_size=512))
            status = self.call("SystemSharedMemoryStatus", PB.svc.SystemSharedMemoryStatusRequest())
            self.assertEqual(status.regions["g"].key, key)
            self.assertEqual(status.regions["g"].byte_size, 512)
            req = PB.svc.ModelInferRequest(model_name="add_sub")
            for name, offset in (("INPUT0", 0), ("INPUT1", 64)):
                t = req.inputs.add(name=name, datatype="FP32", shape=[1, 16])
                t.parameters["shared_memory_region"].string_param = "g"
                t.parameters["shared_memory_byte_size"].int64_param = 64
                t.parameters["shared_memory_offset"].int64_param = offset
            out = req.outputs.add(name="OUTPUT0")
            out.parameters["shared_memory_region"].string_param = "g"
            out.parameters["shared_memory_byte_size"].int64_param = 64
            out.parameters["shared_memory_offset"].int64_param = 256
            req.outputs.add(name="OUTPUT1")
            resp = self.call("ModelInfer", req)
            exp0, exp1 = expected_add_sub(a, b)
            self.assertEqual([f32(v) for v in decode("FP32", bytes(seg.buf[256:320]))], exp0)
            by_name = {o.name: i for i, o in enumerate(resp.outputs)}
            shm_out = resp.outputs[by_name["OUTPUT0"]]
            self.assertEqual(shm_out.parameters["shared_memory_region"].string_param, "g")
            self.assertEqual(shm_out.parameters["shared_memory_byte_size"].int64_param, 64)
            # raw_output_contents stays aligned with the outputs.
            self.assertEqual(len(resp.raw_output_contents), 2)
            self.assertEqual(resp.raw_output_contents[by_name["OUTPUT0"]], b"")
            self.assertEqual([f32(v) for v in decode(
                "FP32", resp.raw_output_contents[by_name["OUTPUT1"]])], exp1)
            self.call("SystemSharedMemoryUnregister",
                      PB.svc.SystemSharedMemoryUnregisterRequest(name="g"))
            with self.assertRaises(self.grpc.RpcError) as cm:
                self.call("ModelInfer", req)
            self.assertEqual(cm.exception.code(), self.grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("not registered", cm.exception.details())
            with self.assertRaises(self.grpc.RpcError) as cm:
                self.call("SystemSharedMemoryRegister", PB.svc.SystemSharedMemoryRegisterRequest(
                    name="g", key="/../etc/passwd", byte_size=8))
            self.assertEqual(cm.exception.code(), self.grpc.StatusCode.INVALID_ARGUMENT)
        finally:
            self.call("SystemSharedMemoryUnregister", PB.svc.SystemSharedMemoryUnregisterRequest())
            seg.close()
            seg.unlink()

    def test_classification_extension(self):
        req = PB.svc.ModelInferRequest(model_name="tiny_cnn")
        req.inputs.add(name="input", datatype="FP32", shape=[1, 1, 28, 28])
        req.raw_input_contents.append(encode("FP32", [((i * 13) % 29) / 29.0 for i in range(784)]))
        out = req.outputs.add(name="logits")
        out.parameters["classification"].int64_param = 2
        res = self.call("ModelInfer", req)
        self.assertEqual((res.outputs[0].datatype, list(res.outputs[0].shape)), ("BYTES", [1, 2]))
        top = [e.decode().split(":") for e in decode("BYTES", res.raw_output_contents[0])]
        self.assertEqual(len(top), 2)
        self.assertGreaterEqual(float(top[0][0]), float(top[1][0]))
        out.parameters["classification"].string_param = "two"
        self.assertCode(self.grpc.StatusCode.INVALID_ARGUMENT, "ModelInfer", req)

    def test_unserved_extensions_answer_with_a_reason(self):
        # Triton's C++ client takes an empty error message for success.
        for method, req in (("CudaSharedMemoryRegister", PB.svc.CudaSharedMemoryRegisterRequest()),
                            ("CudaSharedMemoryStatus", PB.svc.CudaSharedMemoryStatusRequest()),
                            ("TraceSetting", PB.svc.TraceSettingRequest()),
                            ("LogSettings", PB.svc.LogSettingsRequest())):
            with self.assertRaises(self.grpc.RpcError) as cm:
                self.call(method, req)
            self.assertEqual(cm.exception.code(), self.grpc.StatusCode.UNIMPLEMENTED, method)
            self.assertIn("not served", cm.exception.details(), method)

    def test_unknown_model_not_found(self):
        a, b = add_sub_rows(1)
        req = self.add_sub_req(a, b, 1)
        req.model_name = "no_such_model"
        self.assertCode(self.grpc.StatusCode.NOT_FOUND, "ModelInfer", req)

    def test_wrong_shape_invalid_argument(self):
        a, b = add_sub_rows(1)
        self.assertCode(self.grpc.StatusCode.INVALID_ARGUMENT, "ModelInfer",
                        self.add_sub_req(a[:15], b[:15], 1))

    def test_stream_infer(self):
        a1, b1 = add_sub_rows(1, offset=10.0)
        a2, b2 = add_sub_rows(2, offset=20.0)
        reqs = [self.add_sub_req(a1, b1, 1, rid="s1"), self.add_sub_req(a2, b2, 2, rid="s2")]
        call = self.stub.ModelStreamInfer(iter(reqs), timeout=20)
        got = {}
        try:
            for _ in range(2):
                r = next(call)
                self.assertEqual(r.error_message, "")
                got[r.infer_response.id] = r.infer_response
        finally:
            call.cancel()
        self.assertEqual(set(got), {"s1", "s2"})
        self.assertAddSubResp(got["s1"], a1, b1, 1)
        self.assertAddSubResp(got["s2"], a2, b2, 2)


# ---------------------------------------------------------------------------


def main():
    prog = unittest.main(exit=False, verbosity=2)
    result = prog.result
    ok = result.wasSuccessful()
    if not ok:
        for w in WORKERS:
            sys.stderr.write("\n===== worker %s (%s) output, last 200 lines =====\n%s\n"
                             % (w.name, " ".join(w.cmd), w.log_tail()))
    # The lines unittest printed end with "OK" or "FAILED (...)"; add the plain
    # counts line CI summaries look for.
    # Errors in setUpModule/setUpClass are not tests that ran but still count as failed.
    problems = result.failures + result.errors
    failed = len(problems) + len(result.unexpectedSuccesses)
    failed_run = sum(1 for t, _ in problems if isinstance(t, unittest.TestCase))
    skipped = len(result.skipped)
    passed = max(0, result.testsRun - failed_run - len(result.unexpectedSuccesses) - skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(0 if ok and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
