#!/usr/bin/python3
"""Hostile HTTP/1.1 framing against the real `berth server` and the real `berth worker`.

Raw sockets send what ordinary clients cannot: oversized trailers, trailers at all, a
Content-Length of 100 GB with one byte behind it, transfer codings other than a lone "chunked"
with a second request hidden in the body, a body on a route that reads none (CL.0), a header
over the limit, output lists that name one output many times, a timeout of 2**64-1 us,
hundreds of idle connections and a thousand that trickle a header (slowloris). Each case asserts the exact status of the answer, that no second
answer comes back where a second request was smuggled, and afterwards that the process is
alive, still answers its health route with 200 and that its RSS stays under a bound taken from
a baseline measured after start (printed).

    BERTH_BIN=build/dev/berth BERTH_MODELS=tests/fixtures/models \\
        ASAN_OPTIONS=detect_leaks=0 python3 tests/hostile/hostile_test.py -v

Environment:
  BERTH_BIN             the berth binary (default: <repo>/build/berth)
  BERTH_MODELS          fixture model repository with add_sub (default: <repo>/tests/fixtures/models)
  BERTH_RSS_MARGIN_MB   allowed growth over the measured baseline (default: 300)
  BERTH_STARTUP_S       deadline for a process to become healthy (default: 120)

The raw requests of the framing cases are also the seed corpus of the HTTP/1.1 request-framing
fuzz target (tests/fuzz/corpus/http_request/, written by tests/fuzz/make_http_request_corpus.py
from corpus_inputs() below; CorpusTest checks that the files are current).
"""
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BERTH = os.path.abspath(os.environ.get("BERTH_BIN") or os.path.join(ROOT, "build", "berth"))
MODELS = os.path.abspath(os.environ.get("BERTH_MODELS") or
                         os.path.join(ROOT, "tests", "fixtures", "models"))
CORPUS_DIR = os.path.join(ROOT, "tests", "fuzz", "corpus", "http_request")
RSS_MARGIN = int(float(os.environ.get("BERTH_RSS_MARGIN_MB", "300")) * (1 << 20))
STARTUP_S = float(os.environ.get("BERTH_STARTUP_S", "120"))

# Stands for the admin key in the fuzz corpus (the tests use the real one).
FAKE_KEY = "brth_" + "0" * 28
KEY_PATTERN = re.compile(r"(brth_[A-Za-z0-9]{28})")

# Deadlines, in seconds.
EXCHANGE_S = 15      # one raw exchange: the answer and the close must come within this
HEALTH_S = 10        # a health probe after a case
HUGE_LENGTH = 100000000000  # Content-Length of the 413 cases: 100 GB
IDLE_CONNECTIONS = 300
SLOW_CONNECTIONS = 1030  # more than the worker's default --max-connections (1024)
SLOW_RECOVERY_S = 40     # well under the 120 s idle timeout, over the 10 s header timeout

# The request routes each target is attacked on.
SESSION = "/api/v1/session"          # server: public, reads a JSON body
SERVER_INFER = "/v2/models/demo/infer"
WORKER_INFER = "/v2/models/add_sub/infer"

# add_sub's signature as the fixture declares it (the corpus cannot ask the worker); the tests
# that need a valid request build theirs from the live metadata.
ADD_SUB_METADATA = {
    "name": "add_sub",
    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]},
               {"name": "INPUT1", "datatype": "FP32", "shape": [-1, 16]}],
    "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 16]},
                {"name": "OUTPUT1", "datatype": "FP32", "shape": [-1, 16]}],
}


# ---------------------------------------------------------------------------------------------
# raw requests (also the fuzz corpus)


def request(method, target, headers=(), body=b""):
    """One HTTP/1.1 request, byte for byte: nothing is added but `Host: x`."""
    head = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def bearer(key):
    return [("Authorization", "Bearer " + key)] if key else []


def infer_body(metadata, outputs=None, parameters=None):
    """A valid JSON infer request for a model whose inputs are all FP32: one row each."""
    inputs = []
    for i, t in enumerate(metadata["inputs"]):
        if t["datatype"] != "FP32":
            raise AssertionError("input %s is %s, not FP32" % (t["name"], t["datatype"]))
        shape = [1 if d < 0 else d for d in t["shape"]]
        n = 1
        for d in shape:
            n *= d
        inputs.append({"name": t["name"], "datatype": "FP32", "shape": shape,
                       "data": [float(j) * 0.5 + i for j in range(n)]})
    body = {"inputs": inputs}
    if outputs is not None:
        body["outputs"] = [{"name": o} for o in outputs]
    if parameters is not None:
        body["parameters"] = parameters
    return json.dumps(body).encode()


def session_body(key):
    return json.dumps({"key": key}).encode()


def chunked_request(path, body, trailer=b"", headers=()):
    """POST with a chunked body of one chunk, then the last chunk and `trailer` (field lines)."""
    return request("POST", path, [("Transfer-Encoding", "chunked"), *headers],
                   chunk(body) + b"0\r\n" + trailer + b"\r\n")


def big_trailer_request(path, size=70000):
    return chunked_request(path, b"a", b"X-T: " + b"t" * size + b"\r\n")


def huge_length_request(path, key=None, content_type="application/json"):
    """Declares 100 GB and sends one byte of it."""
    return request("POST", path, [("Content-Type", content_type),
                                  ("Content-Length", str(HUGE_LENGTH)), *bearer(key)], b"{")


def server_probe(key):
    """The request hidden in a body: a smuggled one would be answered with the server's info."""
    return request("GET", "/api/v1/server", bearer(key))


WORKER_PROBE = request("GET", "/v2")

# Transfer-Encoding values other than a lone "chunked", and the status each must get.
# `chunked_first`: the body is first a valid chunked body (a server that ignored the other
# coding would take the probe after it for the next request), otherwise the probe is the body.
TE_CASES = [
    # (corpus name, Transfer-Encoding, status, chunked_first)
    ("te_identity_smuggle", "identity", 400, False),
    ("te_xchunked_smuggle", "xchunked", 400, False),
    ("te_chunked_gzip_smuggle", "chunked, gzip", 400, False),
    ("te_gzip_chunked_smuggle", "gzip, chunked", 501, True),
]


def te_smuggle_request(path, coding, probe, chunked_first):
    body = (chunk(b"a") + b"0\r\n\r\n" if chunked_first else b"") + probe
    return request("POST", path, [("Transfer-Encoding", coding)], body)


def te_and_length_request(path, probe):
    """CL.TE: both framings; by the chunked one the probe is the next request."""
    body = b"0\r\n\r\n" + probe
    return request("POST", path, [("Content-Length", str(len(body))),
                                  ("Transfer-Encoding", "chunked")], body)


def two_lengths_request(path, probe):
    """Two Content-Length fields that disagree: by the shorter one the probe is next."""
    return request("POST", path, [("Content-Length", "0"),
                                  ("Content-Length", str(len(probe)))], probe)


def cl0_request(path, probe):
    """A body on a route that reads none: it must not be taken for the next request."""
    return request("GET", path, [("Content-Length", str(len(probe)))], probe)


CL0_ROUTES = [("cl0_index_smuggle", "/index.html", "text/html"),
              ("cl0_healthz_smuggle", "/healthz", None),
              ("cl0_sample_smuggle", "/samples/digit-7.png", "image/png")]


def big_header_request(path, size=40000):
    return request("GET", path, [("X-Big", "b" * size)])


def corpus_inputs(key=FAKE_KEY):
    """Every raw request of the framing cases, by corpus file name."""
    out = {
        "trailer_70000": big_trailer_request(SESSION),
        "trailer_70000_worker": big_trailer_request(WORKER_INFER),
        "trailer_small_session": chunked_request(SESSION, session_body(key), b"X-T: abc\r\n"),
        "trailer_small_infer": chunked_request(WORKER_INFER, infer_body(ADD_SUB_METADATA),
                                               b"X-T: abc\r\n"),
        "chunked_session_ok": chunked_request(SESSION, session_body(key),
                                              headers=[("Connection", "close")]),
        "chunked_infer_ok": chunked_request(WORKER_INFER, infer_body(ADD_SUB_METADATA),
                                            headers=[("Connection", "close")]),
        "content_length_1e11": huge_length_request(SERVER_INFER, key),
        "content_length_1e11_nokey": huge_length_request(SERVER_INFER),
        "content_length_1e11_api": huge_length_request("/api/v1/models", key),
        "content_length_1e11_upload": huge_length_request("/api/v1/models?name=big", key,
                                                          "application/octet-stream"),
        "content_length_1e11_worker": huge_length_request(WORKER_INFER),
        "te_with_content_length_smuggle": te_and_length_request(SESSION, server_probe(key)),
        "te_with_content_length_smuggle_worker": te_and_length_request(WORKER_INFER,
                                                                       WORKER_PROBE),
        "content_length_twice_smuggle": two_lengths_request(SESSION, server_probe(key)),
        "content_length_twice_smuggle_worker": two_lengths_request(WORKER_INFER, WORKER_PROBE),
        "header_40000": big_header_request("/healthz"),
        "header_40000_worker": big_header_request("/v2/health/live"),
    }
    for name, coding, _, chunked_first in TE_CASES:
        out[name] = te_smuggle_request(SESSION, coding, server_probe(key), chunked_first)
        out[name + "_worker"] = te_smuggle_request(WORKER_INFER, coding, WORKER_PROBE,
                                                   chunked_first)
    out["te_gzip_chunked_raw_smuggle"] = te_smuggle_request(SESSION, "gzip, chunked",
                                                            server_probe(key), False)
    out["te_gzip_chunked_raw_smuggle_worker"] = te_smuggle_request(WORKER_INFER, "gzip, chunked",
                                                                   WORKER_PROBE, False)
    for name, path, _ in CL0_ROUTES:
        out[name] = cl0_request(path, server_probe(key))
    return out


# ---------------------------------------------------------------------------------------------
# talking to a process


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def error(self):
        """The "error" string of a JSON error body (fails the test when there is none)."""
        doc = self.json()
        if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
            raise AssertionError("no \"error\" string in %r" % self.body[:300])
        return doc["error"]

    def __repr__(self):
        return "HTTP %d %r" % (self.status, self.body[:300])


def parse_responses(data):
    """Splits what came back on one connection into responses. Returns (responses, leftover):
    leftover is the start of a response that is not complete."""
    responses = []
    rest = data
    while rest:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = rest[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            raise AssertionError("not an HTTP response: %r" % rest[:200])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = rest[end + 4:]
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, after = b"", body_start
            while True:
                eol = after.find(b"\r\n")
                if eol < 0:
                    return responses, rest
                size = int(after[:eol].split(b";")[0], 16)
                if size == 0:
                    fin = after.find(b"\r\n\r\n", eol - 2 if eol >= 2 else 0)
                    if fin < 0:
                        return responses, rest
                    after = after[fin + 4:]
                    break
                if len(after) < eol + 2 + size + 2:
                    return responses, rest
                body += after[eol + 2:eol + 2 + size]
                after = after[eol + 2 + size + 2:]
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if len(body_start) < n:
                break
            body, after = body_start[:n], body_start[n:]
        else:
            body, after = body_start, b""  # delimited by the close
        responses.append(Resp(int(m.group(1)), headers, body))
        rest = after
    return responses, rest


class Exchange:
    """What one raw connection brought back."""

    def __init__(self, raw, closed, elapsed, sent_all):
        self.raw = raw
        self.closed = closed      # the peer closed (EOF or reset) before the deadline
        self.elapsed = elapsed    # seconds from the end of sending to the close (or deadline)
        self.sent_all = sent_all  # False: the peer stopped reading before the request's end
        self.responses, self.leftover = parse_responses(raw)

    def __repr__(self):
        return "%d response(s) %r, closed=%s, %d unparsed byte(s), %.3f s" % (
            len(self.responses), self.responses, self.closed, len(self.leftover), self.elapsed)


def exchange(port, payload, deadline_s=EXCHANGE_S):
    """Sends `payload` on a fresh connection (without half-closing it, so that the server must
    end the connection itself) and reads until the server closes it or the deadline passes."""
    end = time.monotonic() + deadline_s
    sock = socket.create_connection(("127.0.0.1", port), timeout=deadline_s)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent_all = True
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            sent_all = False  # it answered and closed before taking all: read what it said
        start = time.monotonic()
        data, closed = b"", False
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                got = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True  # a reset after the answer: what was queued has been read
                break
            if not got:
                closed = True
                break
            data += got
        return Exchange(data, closed, time.monotonic() - start, sent_all)
    finally:
        sock.close()


def read_one_response(sock, deadline_s=HEALTH_S):
    """Reads one complete response from a kept-alive connection."""
    end = time.monotonic() + deadline_s
    data = b""
    while True:
        responses, _ = parse_responses(data)
        if responses:
            return responses[0]
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no complete response within %.0f s: %r" % (deadline_s, data))
        sock.settimeout(remaining)
        got = sock.recv(65536)
        if not got:
            raise AssertionError("the connection closed before a response: %r" % data)
        data += got


def http_call(port, method, path, body=None, headers=None, timeout=60):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def poll(what, check, timeout):
    """Calls check() until it returns something truthy, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, http.client.HTTPException, KeyError, ValueError) as e:
            last = e
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def flatten(x):
    return [v for e in x for v in flatten(e)] if isinstance(x, list) else [x]


def mib(n):
    return n / float(1 << 20)


def owned_replicas(data_dir):
    """Pids of replicas started by the server of `data_dir` (they carry --data-dir-owner)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        for i, arg in enumerate(args[:-1]):
            if arg == b"--data-dir-owner" and args[i + 1] == data_dir.encode():
                pids.append(int(entry))
    return pids


class Process:
    """A berth process under attack: its HTTP port, its health route, its log."""

    def __init__(self, name, tmp, args, health_path):
        self.name = name
        self.health_path = health_path
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.log_path = os.path.join(tmp, name + ".log")
        self._log = open(self.log_path, "ab")
        self.cmd = [BERTH, *args, "--http-port", str(self.http_port),
                    "--grpc-port", str(self.grpc_port)]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, limit=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e

    def wait_healthy(self, deadline_s=STARTUP_S):
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s during start:\n%s" % (
                    self.name, self.proc.returncode, self.log_tail()))
            return http_call(self.http_port, "GET", self.health_path, timeout=5).status == 200
        poll("%s's %s" % (self.name, self.health_path), healthy, deadline_s)

    def rss(self):
        return rss_bytes(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


# ---------------------------------------------------------------------------------------------
# the cases


class HostileCase(unittest.TestCase):
    """Shared by both targets: start in setUpClass, the checks after each case."""
    maxDiff = 4000
    target = None    # Process
    bound = None     # RSS bound, bytes
    baseline = None  # RSS after the start and a warm-up, bytes
    rss_log = None   # [(case, RSS bytes)]

    @classmethod
    def measure_baseline(cls):
        cls.baseline = cls.target.rss()
        cls.bound = cls.baseline + RSS_MARGIN
        cls.rss_log = []
        sys.stderr.write("\n%s: RSS baseline %.1f MiB, bound %.1f MiB (baseline + %.0f MiB)\n" % (
            cls.target.name, mib(cls.baseline), mib(cls.bound), mib(RSS_MARGIN)))

    @classmethod
    def report_rss(cls):
        if cls.rss_log is None:
            return
        peak = max([r for _, r in cls.rss_log] or [cls.baseline])
        sys.stderr.write("\n%s: RSS baseline %.1f MiB, peak after a case %.1f MiB, bound "
                         "%.1f MiB\n" % (cls.target.name, mib(cls.baseline), mib(peak),
                                         mib(cls.bound)))
        for case, rss in cls.rss_log:
            sys.stderr.write("  %-44s %8.1f MiB\n" % (case, mib(rss)))

    def context(self):
        return "\n--- %s log (tail) ---\n%s" % (self.target.name, self.target.log_tail())

    def send(self, payload, deadline_s=EXCHANGE_S):
        return exchange(self.target.http_port, payload, deadline_s)

    def assertOneAnswerThenClose(self, ex, status, what):
        """Exactly one complete response with `status` (an int or a set), then the close."""
        self.assertEqual(ex.leftover, b"", "%s: a partial response: %r%s" % (what, ex,
                                                                           self.context()))
        self.assertEqual(len(ex.responses), 1, "%s: expected exactly one response, got %r%s" % (
            what, ex, self.context()))
        got = ex.responses[0].status
        ok = got in status if isinstance(status, (set, frozenset, tuple)) else got == status
        self.assertTrue(ok, "%s: expected HTTP %s, got %r%s" % (what, status, ex,
                                                               self.context()))
        self.assertTrue(ex.closed, "%s: the connection stayed open %.0f s after the answer: %r"
                        % (what, ex.elapsed, ex))
        return ex.responses[0]

    def assertSurvived(self, case):
        """The process lives, answers its health route with 200 and stays under the bound."""
        self.assertIsNone(self.target.proc.poll(), "%s: %s exited with %s%s" % (
            case, self.target.name, self.target.proc.returncode, self.context()))
        r = http_call(self.target.http_port, "GET", self.target.health_path, timeout=HEALTH_S)
        self.assertEqual(r.status, 200, "%s: health %r%s" % (case, r, self.context()))
        rss = self.target.rss()
        self.rss_log.append((case, rss))
        self.assertLess(rss, self.bound, "%s: RSS %.1f MiB is over the bound of %.1f MiB" % (
            case, mib(rss), mib(self.bound)))
        return rss

    # Cases both targets share; each subclass supplies its routes and the expected statuses.

    def check_huge_length(self, name, payload):
        before = self.target.rss()
        ex = self.send(payload)
        r = self.assertOneAnswerThenClose(ex, 413, name)
        self.assertIn("bytes", r.error())
        sys.stderr.write("  %s: 413 after %.3f s\n" % (name, ex.elapsed))
        rss = self.assertSurvived(name)
        self.assertLess(rss - before, 64 << 20, "%s: RSS went from %.1f to %.1f MiB" % (
            name, mib(before), mib(rss)))

    def check_smuggle(self, name, payload, status):
        """`payload` hides a second request; exactly one answer may come back."""
        ex = self.send(payload)
        r = self.assertOneAnswerThenClose(ex, status, name)
        self.assertTrue(r.error(), name)
        self.assertSurvived(name)
        return r

    def check_idle_connections(self, n=IDLE_CONNECTIONS):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
        idle = []
        try:
            for _ in range(n):
                idle.append(socket.create_connection(("127.0.0.1", self.target.http_port),
                                                     timeout=HEALTH_S))
            start = time.monotonic()
            r = http_call(self.target.http_port, "GET", self.target.health_path,
                          timeout=HEALTH_S)
            took = time.monotonic() - start
            self.assertEqual(r.status, 200, "%r%s" % (r, self.context()))
            sys.stderr.write("  with %d idle connections open, %s answered in %.3f s\n" % (
                n, self.target.health_path, took))
            # The first and the last idle connection were taken, not dropped: they answer.
            for sock in (idle[0], idle[-1]):
                sock.sendall(request("GET", self.target.health_path))
                self.assertEqual(read_one_response(sock).status, 200)
            self.assertSurvived("%d idle connections" % n)
        finally:
            for sock in idle:
                sock.close()
        self.assertSurvived("%d idle connections closed" % n)


    def check_slow_headers(self, n=SLOW_CONNECTIONS):
        """`n` connections each send half a header and then nothing: the listener must close
        them after its header timeout and serve probes again well before its idle timeout."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
        partial = b"GET " + self.target.health_path.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: "
        slow = []
        try:
            start = time.monotonic()
            for _ in range(n):
                sock = socket.create_connection(("127.0.0.1", self.target.http_port),
                                                timeout=HEALTH_S)
                try:
                    sock.sendall(partial)
                except OSError:
                    pass  # refused at the limit and already closed by the listener
                slow.append(sock)

            def probe_served():
                try:
                    return http_call(self.target.http_port, "GET", self.target.health_path,
                                     timeout=2).status == 200
                except OSError:
                    return False
            poll("a probe to be served beside %d slow headers" % n, probe_served,
                 SLOW_RECOVERY_S)
            served_after = time.monotonic() - start

            def all_closed():
                for sock in slow:
                    if sock.fileno() < 0:
                        continue
                    sock.settimeout(0.0)
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        return False  # still open, nothing sent
                    except OSError:
                        data = b""
                    if data == b"" or b" 503 " in data or b" 408 " in data:
                        sock.close()
                    else:
                        self.fail("a slow header got an answer: %r" % data[:200])
                return True
            poll("the listener to close %d slow headers" % n, all_closed, SLOW_RECOVERY_S)
            closed_after = time.monotonic() - start
            sys.stderr.write("  %d slow headers: a probe served after %.1f s, all closed after "
                             "%.1f s\n" % (n, served_after, closed_after))
            ok = 0
            for _ in range(80):
                ok += http_call(self.target.http_port, "GET", self.target.health_path,
                                timeout=HEALTH_S).status == 200
            self.assertEqual(ok, 80, "probes served after the slow headers%s" % self.context())
        finally:
            for sock in slow:
                sock.close()
        self.assertSurvived("%d slow headers" % n)


class ServerHostileTest(HostileCase):
    """`berth server`: the gateway's HTTP/1.1 listener (control plane and data plane)."""

    @classmethod
    def setUpClass(cls):
        if not (os.path.isfile(BERTH) and os.access(BERTH, os.X_OK)):
            raise RuntimeError("BERTH_BIN=%s is not an executable file" % BERTH)
        cls.tmp = tempfile.mkdtemp(prefix="berth-hostile-server-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.data_dir = os.path.join(cls.tmp, "data")
        cls.target = Process("server", cls.tmp, ["server", "--data-dir", cls.data_dir],
                             "/healthz")
        cls.addClassCleanup(cls.stop_server)
        cls.target.wait_healthy()
        match = poll("the admin key on the first start",
                     lambda: KEY_PATTERN.search(cls.target.log_tail(10 ** 6)), timeout=30)
        cls.admin = match.group(1)
        cls.env = dict(os.environ, BERTH_SERVER="http://127.0.0.1:%d" % cls.target.http_port,
                       BERTH_API_KEY=cls.admin, XDG_CONFIG_HOME=os.path.join(cls.tmp, "config"))
        for _ in range(3):  # warm up before the baseline
            cls.api("GET", "/server")
            cls.api("GET", "/services")
        cls.measure_baseline()

    @classmethod
    def stop_server(cls):
        cls.report_rss()
        cls.target.stop()
        # It stops its replicas on a clean exit; any that outlived it are ours to end.
        for pid in owned_replicas(cls.data_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @classmethod
    def api(cls, method, path, body=None, key=None):
        r = http_call(cls.target.http_port, method, "/api/v1" + path, body,
                      {"Authorization": "Bearer " + (key or cls.admin)})
        return r.status, (r.json() if r.body[:1] in (b"{", b"[") else r.body)

    def test_01_a_trailer_of_70000_bytes_is_refused(self):
        ex = self.send(big_trailer_request(SESSION))
        r = self.assertOneAnswerThenClose(ex, 400, "trailer_70000")
        self.assertIn("cannot read the request", r.error())
        self.assertSurvived("trailer_70000")

    def test_02_any_trailer_is_refused(self):
        # The same chunked sign-in without a trailer is accepted: only the trailer is refused.
        ok = self.send(chunked_request(SESSION, session_body(self.admin),
                                       headers=[("Connection", "close")]))
        self.assertOneAnswerThenClose(ok, 200, "chunked_session_ok")
        ex = self.send(chunked_request(SESSION, session_body(self.admin), b"X-T: abc\r\n"))
        r = self.assertOneAnswerThenClose(ex, 400, "trailer_small_session")
        self.assertIn("trailer", r.error())
        self.assertSurvived("trailer_small_session")

    def test_03_a_content_length_of_100_gb_is_413_at_once(self):
        for name, payload in (
                ("content_length_1e11", huge_length_request(SERVER_INFER, self.admin)),
                ("content_length_1e11_nokey", huge_length_request(SERVER_INFER)),
                ("content_length_1e11_api", huge_length_request("/api/v1/models", self.admin)),
                ("content_length_1e11_upload",
                 huge_length_request("/api/v1/models?name=big", self.admin,
                                     "application/octet-stream"))):
            with self.subTest(name):
                self.check_huge_length(name, payload)

    def test_04_transfer_encodings_cannot_smuggle_a_request(self):
        probe = server_probe(self.admin)
        cases = [(name, te_smuggle_request(SESSION, coding, probe, first), status)
                 for name, coding, status, first in TE_CASES]
        cases += [("te_gzip_chunked_raw_smuggle",
                   te_smuggle_request(SESSION, "gzip, chunked", probe, False), 501),
                  ("te_with_content_length_smuggle", te_and_length_request(SESSION, probe), 400),
                  ("content_length_twice_smuggle", two_lengths_request(SESSION, probe), 400)]
        for name, payload, status in cases:
            with self.subTest(name):
                self.check_smuggle(name, payload, status)

    def test_05_a_body_on_a_static_route_is_not_the_next_request(self):
        for name, path, content_type in CL0_ROUTES:
            with self.subTest(name):
                ex = self.send(cl0_request(path, server_probe(self.admin)))
                r = self.assertOneAnswerThenClose(ex, 200, name)
                if content_type:
                    self.assertTrue(r.headers.get("content-type", "").startswith(content_type),
                                    "%s: %r" % (name, r.headers))
                self.assertNotIn(b"http_port", r.body)  # not the hidden request's answer
                self.assertSurvived(name)

    def test_06_a_header_over_32_kib_is_431(self):
        ex = self.send(big_header_request("/healthz"))
        r = self.assertOneAnswerThenClose(ex, 431, "header_40000")
        self.assertIn("header", r.error())
        self.assertSurvived("header_40000")

    def test_07_an_output_named_twice_through_the_gateway(self):
        res = subprocess.run(
            [BERTH, "deploy", os.path.join(MODELS, "add_sub", "1", "model.onnx"), "--name",
             "addsub", "--timeout", "240s"], capture_output=True, text=True, env=self.env,
            timeout=300)
        self.assertEqual(res.returncode, 0, "berth deploy: %s%s%s" % (res.stdout, res.stderr,
                                                                      self.context()))
        # The replicas take the bodies the gateway lets through: the same limit on both.
        replicas = owned_replicas(self.data_dir)
        self.assertTrue(replicas, "no replica of %s found" % self.data_dir)
        for pid in replicas:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
            self.assertIn(b"--max-request-bytes", args, pid)
            self.assertEqual(args[args.index(b"--max-request-bytes") + 1], b"%d" % (64 << 20))
        key = {"Authorization": "Bearer " + self.admin}
        md = http_call(self.target.http_port, "GET", "/v2/models/addsub", headers=key)
        self.assertEqual(md.status, 200, md)
        metadata = md.json()
        path = "/v2/models/addsub/infer"
        names = [o["name"] for o in metadata["outputs"]]
        ok = http_call(self.target.http_port, "POST", path, infer_body(metadata, names),
                       dict(key, **{"Content-Type": "application/json"}))
        self.assertEqual(ok.status, 200, ok)  # each output once: served
        for case, outputs in (("OUTPUT0 twice", [names[0]] * 2),
                              ("OUTPUT0 10000 times", [names[0]] * 10000)):
            with self.subTest(case):
                r = http_call(self.target.http_port, "POST", path, infer_body(metadata, outputs),
                              dict(key, **{"Content-Type": "application/json"}))
                self.assertEqual(r.status, 400, "%s: %r%s" % (case, r, self.context()))
                self.assertIn("output", r.error().lower())
                if len(outputs) == 2:
                    self.assertIn(names[0], r.error())
                self.assertSurvived(case)

    def test_09_whoami_answers_an_invoke_only_key(self):
        status, doc = self.api("POST", "/keys", {"name": "inv", "scopes": ["invoke"]})
        self.assertEqual(status, 201, doc)
        invoke = doc["key"]
        self.assertEqual(self.api("GET", "/services", key=invoke)[0], 403)  # invoke-only indeed
        status, doc = self.api("GET", "/whoami", key=invoke)
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["name"], doc["scopes"]), ("inv", ["invoke"]))
        self.assertNotIn("key", doc)
        self.assertSurvived("whoami")

    def test_10_many_idle_connections_leave_it_answering(self):
        self.check_idle_connections()

    def test_11_slow_headers_are_cut_off(self):
        self.check_slow_headers()

    def test_12_stalled_uploads_cannot_queue_the_api_without_bound(self):
        """32 uploads that send a few bytes and stall hold the control API's 32 places (4
        threads x 8); the next API request is a 429 with Retry-After at once, and once they go
        the API answers again."""
        head = request("POST", "/api/v1/models?name=stalled",
                       [("Authorization", "Bearer " + self.admin),
                        ("Content-Type", "application/octet-stream"),
                        ("Content-Length", "1000000")])
        stalled = []
        try:
            for _ in range(32):
                sock = socket.create_connection(("127.0.0.1", self.target.http_port),
                                                timeout=HEALTH_S)
                sock.sendall(head + b"x" * 100)
                stalled.append(sock)

            def refused():
                r = http_call(self.target.http_port, "GET", "/api/v1/server",
                              headers={"Authorization": "Bearer " + self.admin}, timeout=5)
                return r if r.status == 429 else None
            r = poll("the API to refuse past 32 requests in progress", refused, 30)
            self.assertEqual(r.headers.get("retry-after"), "1", r)
            self.assertIn("busy", r.error())
            # The data plane and health are not held up by the API's places.
            self.assertEqual(http_call(self.target.http_port, "GET", "/healthz").status, 200)
        finally:
            for sock in stalled:
                sock.close()
        poll("the API to answer again", lambda: http_call(
            self.target.http_port, "GET", "/api/v1/server",
            headers={"Authorization": "Bearer " + self.admin}, timeout=5).status == 200, 30)
        poll("the partial uploads to be removed",
             lambda: os.listdir(os.path.join(self.data_dir, "tmp")) == [], 30)
        self.assertSurvived("32 stalled uploads")


    def test_13_forged_and_outsized_session_cookies_and_paths_on_the_data_plane(self):
        """The data plane takes a console session cookie: forged, repeated, empty and 20 KiB
        values are 401s, control bytes a framing 400; a path of 8000 bytes is answered and kept in the request log only up
        to its bound."""
        infer = "/v2/models/addsub/infer"
        for case, cookie, status in (
                ("forged session", "berth_session=" + "A" * 43, 401),
                ("empty session", "berth_session=", 401),
                ("session named 500 times", "; ".join(["berth_session=x"] * 500), 401),
                ("20 KiB session", "berth_session=" + "b" * 20000, 401),
                ("control bytes in the cookie", "berth_session=\x01\x7f\xff", 400)):
            with self.subTest(case):
                ex = self.send(request("POST", infer, [("Cookie", cookie),
                                                      ("X-Berth-Console", "1"),
                                                      ("Content-Length", "2"),
                                                      ("Connection", "close")], b"{}"))
                self.assertEqual(len(ex.responses), 1, "%s: %r%s" % (case, ex, self.context()))
                self.assertEqual(ex.responses[0].status, status, "%s: %r" % (case, ex))
                self.assertSurvived(case)
        key = {"Authorization": "Bearer " + self.admin}
        long_path = infer + "/" + "p" * 8000
        r = http_call(self.target.http_port, "POST", long_path, {"inputs": []}, key)
        self.assertIn(r.status, (400, 404), r)
        log = http_call(self.target.http_port, "GET", "/api/v1/services/addsub/requests?limit=5",
                        headers=key)
        self.assertEqual(log.status, 200, log)
        routes = [e["route"] for e in log.json()["items"]]
        self.assertTrue(routes and routes[0].startswith(infer + "/ppp"), routes)
        self.assertLessEqual(max(len(r) for r in routes), 256)
        self.assertSurvived("8000-byte path")


class WorkerHostileTest(HostileCase):
    """`berth worker`: the model server's HTTP/1.1 listener."""

    @classmethod
    def setUpClass(cls):
        if not (os.path.isfile(BERTH) and os.access(BERTH, os.X_OK)):
            raise RuntimeError("BERTH_BIN=%s is not an executable file" % BERTH)
        if not os.path.isdir(os.path.join(MODELS, "add_sub")):
            raise RuntimeError("BERTH_MODELS=%s holds no add_sub model" % MODELS)
        cls.tmp = tempfile.mkdtemp(prefix="berth-hostile-worker-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.target = Process("worker", cls.tmp, ["worker", "--model-repository", MODELS],
                             "/v2/health/live")
        cls.addClassCleanup(cls.stop_worker)
        cls.target.wait_healthy()
        poll("add_sub to be ready",
             lambda: http_call(cls.target.http_port, "GET", "/v2/models/add_sub/ready",
                               timeout=5).status == 200, STARTUP_S)
        md = http_call(cls.target.http_port, "GET", "/v2/models/add_sub")
        if md.status != 200:
            raise AssertionError("add_sub metadata: %r" % md)
        cls.metadata = md.json()
        for _ in range(3):  # warm up before the baseline
            r = cls.infer(infer_body(cls.metadata))
            if r.status != 200:
                raise AssertionError("a valid add_sub request: %r" % r)
        cls.measure_baseline()

    @classmethod
    def stop_worker(cls):
        cls.report_rss()
        cls.target.stop()

    @classmethod
    def infer(cls, body):
        return http_call(cls.target.http_port, "POST", WORKER_INFER, body,
                         {"Content-Type": "application/json"})

    def test_01_a_trailer_of_70000_bytes_is_refused(self):
        ex = self.send(big_trailer_request(WORKER_INFER))
        r = self.assertOneAnswerThenClose(ex, {400, 431}, "trailer_70000_worker")
        self.assertTrue(r.error())
        self.assertSurvived("trailer_70000_worker")

    def test_02_any_trailer_is_refused(self):
        body = infer_body(self.metadata)
        ok = self.send(chunked_request(WORKER_INFER, body, headers=[("Connection", "close")]))
        self.assertOneAnswerThenClose(ok, 200, "chunked_infer_ok")
        ex = self.send(chunked_request(WORKER_INFER, body, b"X-T: abc\r\n"))
        r = self.assertOneAnswerThenClose(ex, 400, "trailer_small_infer")
        self.assertIn("trailer", r.error())
        self.assertSurvived("trailer_small_infer")

    def test_03_a_content_length_of_100_gb_is_413_at_once(self):
        self.check_huge_length("content_length_1e11_worker", huge_length_request(WORKER_INFER))

    def test_04_transfer_encodings_cannot_smuggle_a_request(self):
        cases = [(name + "_worker", te_smuggle_request(WORKER_INFER, coding, WORKER_PROBE, first),
                  status) for name, coding, status, first in TE_CASES]
        # The worker checks the codings once the header is in, before any of the body: "gzip"
        # is refused (501) whatever follows, as on the gateway.
        cases += [("te_gzip_chunked_raw_smuggle_worker",
                   te_smuggle_request(WORKER_INFER, "gzip, chunked", WORKER_PROBE, False), 501),
                  ("te_with_content_length_smuggle_worker",
                   te_and_length_request(WORKER_INFER, WORKER_PROBE), 400),
                  ("content_length_twice_smuggle_worker",
                   two_lengths_request(WORKER_INFER, WORKER_PROBE), 400)]
        for name, payload, status in cases:
            with self.subTest(name):
                self.check_smuggle(name, payload, status)

    def test_06_a_header_over_32_kib_is_431(self):
        ex = self.send(big_header_request("/v2/health/live"))
        r = self.assertOneAnswerThenClose(ex, 431, "header_40000_worker")
        self.assertIn("header", r.error())
        self.assertSurvived("header_40000_worker")

    def test_07_an_output_named_twice_is_400(self):
        names = [o["name"] for o in self.metadata["outputs"]]
        self.assertEqual(self.infer(infer_body(self.metadata, names)).status, 200)
        for case, outputs in (("OUTPUT0 twice", [names[0]] * 2),
                              ("OUTPUT0 10000 times", [names[0]] * 10000)):
            with self.subTest(case):
                r = self.infer(infer_body(self.metadata, outputs))
                self.assertEqual(r.status, 400, "%s: %r%s" % (case, r, self.context()))
                self.assertIn("output", r.error().lower())
                if len(outputs) == 2:
                    self.assertIn(names[0], r.error())
                self.assertSurvived(case)

    def test_08_a_timeout_of_2_64_minus_1_is_clamped(self):
        r = self.infer(infer_body(self.metadata, parameters={"timeout": 18446744073709551615}))
        self.assertEqual(r.status, 200, "%r%s" % (r, self.context()))
        sent = json.loads(infer_body(self.metadata))["inputs"]
        a, b = sent[0]["data"], sent[1]["data"]
        got = {o["name"]: flatten(o["data"]) for o in r.json()["outputs"]}
        self.assertEqual(got["OUTPUT0"], [x + y for x, y in zip(a, b)])
        self.assertEqual(got["OUTPUT1"], [x - y for x, y in zip(a, b)])
        self.assertSurvived("timeout 2**64-1")

    def test_10_many_idle_connections_leave_it_answering(self):
        self.check_idle_connections()

    def test_11_slow_headers_are_cut_off(self):
        self.check_slow_headers()


class CorpusTest(unittest.TestCase):
    """The fuzz target's seeds are the requests this suite sends (with a stand-in key)."""

    def test_corpus_files_are_current(self):
        for name, data in sorted(corpus_inputs().items()):
            with self.subTest(name):
                self.assertLess(len(data), 100 * 1024, name)
                path = os.path.join(CORPUS_DIR, name)
                self.assertTrue(os.path.isfile(path), "%s is missing: run "
                                "tests/fuzz/make_http_request_corpus.py" % path)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), data, "%s is stale: run "
                                     "tests/fuzz/make_http_request_corpus.py" % path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
