#!/usr/bin/python3
"""Memory growth of `berth server` and its replicas under long mixed traffic.

Starts a server, deploys add_sub with two replicas and, for BERTH_GROWTH_S seconds (default
600), sends a mix of valid inferences through the gateway (on kept-alive and on new
connections) and every hostile framing input of tests/hostile/hostile_test.py, to the gateway
and to a replica directly. It samples the RSS of the server and of each replica every few
seconds. After a warm-up (the first quarter of the run, at least 90 s) the RSS of no process
may grow by more than BERTH_GROWTH_LIMIT_MB (default 20 MiB): growth is the median of the
last three samples less the median of the first three after the warm-up. Under
AddressSanitizer the test's ctest entry keeps the quarantine at 16 MiB, so that freed memory
held for use-after-free detection does not read as growth.

The second case shows that the check can fail: the same traffic for a shorter run
(BERTH_LEAK_S, default 180 s) against processes that carry a planted leak (leak_preload.so,
loaded with LD_PRELOAD: 64 KiB kept for every accepted connection) must be flagged.

    BERTH_BIN=build/dev/berth BERTH_LEAK_PRELOAD=build/dev/tests/hostile/libberth_test_leak.so \\
        python3 tests/hostile/memory_growth_test.py -v
"""
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_test as h  # noqa: E402  (the raw requests, the process helpers)

GROWTH_S = float(os.environ.get("BERTH_GROWTH_S", "600"))
LEAK_S = float(os.environ.get("BERTH_LEAK_S", "180"))
LIMIT = int(float(os.environ.get("BERTH_GROWTH_LIMIT_MB", "20")) * (1 << 20))
LEAK_PRELOAD = os.environ.get("BERTH_LEAK_PRELOAD", "")
SAMPLE_S = 3.0


def growth(samples):
    """RSS growth of one process after the warm-up: median of the last three samples less the
    median of the first three. `samples` are (seconds since start, bytes) after the warm-up."""
    if len(samples) < 6:
        raise AssertionError("too few RSS samples after the warm-up: %r" % samples)
    first = statistics.median(r for _, r in samples[:3])
    last = statistics.median(r for _, r in samples[-3:])
    return last - first


class Deployment:
    """A server with add_sub deployed on two replicas; `env` may add LD_PRELOAD."""

    def __init__(self, env_extra=None):
        self.tmp = tempfile.mkdtemp(prefix="berth-growth-")
        self.data_dir = os.path.join(self.tmp, "data")
        env = dict(os.environ)
        env.update(env_extra or {})
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:  # Process() takes the environment it runs in; the replicas inherit it
            self.server = h.Process("server", self.tmp, ["server", "--data-dir", self.data_dir],
                                    "/healthz")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    def start(self):
        self.server.wait_healthy()
        match = h.poll("the admin key", lambda: h.KEY_PATTERN.search(
            self.server.log_tail(10 ** 6)), timeout=30)
        self.key = match.group(1)
        cli_env = dict(os.environ, BERTH_SERVER="http://127.0.0.1:%d" % self.server.http_port,
                       BERTH_API_KEY=self.key, XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        res = subprocess.run(
            [h.BERTH, "deploy", os.path.join(h.MODELS, "add_sub", "1", "model.onnx"), "--name",
             "addsub", "--replicas", "2", "--timeout", "240s"], capture_output=True, text=True,
            env=cli_env, timeout=300)
        if res.returncode != 0:
            raise AssertionError("berth deploy: %s%s\n%s" % (res.stdout, res.stderr,
                                                             self.server.log_tail()))
        self.auth = {"Authorization": "Bearer " + self.key}
        md = h.http_call(self.server.http_port, "GET", "/v2/models/addsub", headers=self.auth)
        if md.status != 200:
            raise AssertionError("addsub metadata: %r" % md)
        self.body = h.infer_body(md.json())
        self.replicas = h.poll("two replicas", lambda: (
            lambda pids: pids if len(pids) == 2 else None)(h.owned_replicas(self.data_dir)), 60)
        self.replica_port = self.find_replica_port()

    def find_replica_port(self):
        for root, _, files in os.walk(self.data_dir):
            if "ports.json" in files:
                with open(os.path.join(root, "ports.json")) as f:
                    return json.load(f)["http_port"]
        raise AssertionError("no replica ports.json under %s" % self.data_dir)

    def rss(self):
        out = {"server": h.rss_bytes(self.server.proc.pid)}
        for pid in self.replicas:
            out["replica %d" % pid] = h.rss_bytes(pid)
        return out

    def stop(self):
        self.server.stop()
        for pid in h.owned_replicas(self.data_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_traffic(d, seconds):
    """Mixed traffic for `seconds`; returns {process: [(t, rss)]} sampled after the warm-up,
    and counts of what was sent."""
    hostile = sorted(h.corpus_inputs(d.key).items())
    warmup = max(90.0, seconds / 4)
    samples = {}
    sent = {"valid": 0, "valid_failed": 0, "hostile": 0}
    kept = http.client.HTTPConnection("127.0.0.1", d.server.http_port, timeout=30)
    headers = dict(d.auth, **{"Content-Type": "application/json"})
    start = time.monotonic()
    next_sample = start + warmup
    i = 0
    while time.monotonic() - start < seconds:
        for _ in range(8):  # valid, on one kept-alive connection
            try:
                kept.request("POST", "/v2/models/addsub/infer", d.body, headers)
                r = kept.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                kept.close()
                kept = http.client.HTTPConnection("127.0.0.1", d.server.http_port, timeout=30)
                ok = False
            sent["valid" if ok else "valid_failed"] += 1
        r = h.http_call(d.server.http_port, "POST", "/v2/models/addsub/infer", d.body,
                        headers, timeout=30)  # valid, on a new connection
        sent["valid" if r.status == 200 else "valid_failed"] += 1
        name, payload = hostile[i % len(hostile)]
        port = d.replica_port if name.endswith("_worker") else d.server.http_port
        h.exchange(port, payload, 5)
        sent["hostile"] += 1
        i += 1
        now = time.monotonic()
        if now >= next_sample:
            for proc, rss in d.rss().items():
                samples.setdefault(proc, []).append((now - start, rss))
            next_sample = now + SAMPLE_S
    kept.close()
    return samples, sent


def report(title, samples, sent, seconds):
    sys.stderr.write("\n%s: %.0f s, %d valid (%d failed), %d hostile\n" % (
        title, seconds, sent["valid"], sent["valid_failed"], sent["hostile"]))
    for proc, s in sorted(samples.items()):
        sys.stderr.write("  %-16s RSS after warm-up %.1f MiB, at the end %.1f MiB, growth "
                         "%+.1f MiB\n" % (proc, h.mib(s[0][1]), h.mib(s[-1][1]),
                                          h.mib(growth(s))))


class MemoryGrowthTest(unittest.TestCase):
    def test_01_rss_stays_flat_under_mixed_traffic(self):
        d = Deployment()
        try:
            samples, sent = run_traffic(d, GROWTH_S)
            self.assertIsNone(d.server.proc.poll(), "the server exited\n" + d.server.log_tail())
        finally:
            d.stop()
        report("memory growth", samples, sent, GROWTH_S)
        self.assertGreater(sent["valid"], 0)
        self.assertEqual(sent["valid_failed"], 0, "valid requests failed: %r" % sent)
        for proc, s in samples.items():
            self.assertLess(growth(s), LIMIT, "%s grew by %.1f MiB (limit %.0f MiB): %r" % (
                proc, h.mib(growth(s)), h.mib(LIMIT), [(round(t), round(h.mib(r), 1))
                                                      for t, r in s]))

    def test_02_a_planted_leak_fails_the_check(self):
        if not os.path.isfile(LEAK_PRELOAD):
            self.fail("BERTH_LEAK_PRELOAD=%r is not the planted-leak library" % LEAK_PRELOAD)
        asan = os.environ.get("ASAN_OPTIONS", "")
        d = Deployment({"LD_PRELOAD": LEAK_PRELOAD,
                        "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
        try:
            samples, sent = run_traffic(d, LEAK_S)
        finally:
            d.stop()
        report("planted leak", samples, sent, LEAK_S)
        flagged = [p for p, s in samples.items() if growth(s) >= LIMIT]
        self.assertIn("server", flagged, "the check missed a leak of 64 KiB per connection")


if __name__ == "__main__":
    unittest.main()
