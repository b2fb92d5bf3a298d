#!/usr/bin/python3
"""The gateway after an idle spell longer than a worker's keep-alive timeout (120 s).

The worker closes idle connections at 120 s; the gateway must never hand a request to a pooled
connection the worker has closed (it expires them at 50 s and checks each before use), and a
request that fails on a reused connection before any byte came back is sent again on a fresh
one. Labelled slow: the idle spell is the test."""
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_test import BERTH, FIXTURES, Server, poll  # noqa: E402

WORKER_IDLE_TIMEOUT_S = 120


class IdleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-idle-test-")
        self.server = Server(os.path.join(self.tmp, "data"))
        self.server.start()
        self.admin = poll("the admin key", lambda: re.search(
            r"(brth_[A-Za-z0-9]{28})", self.server.log()), timeout=30).group(1)

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def infer(self, _=None):
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                            "data": list(range(16))},
                           {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16],
                            "data": [1] * 16}]}
        status, payload, _ = self.server.request("POST", "/v2/models/addsub/infer", body,
                                                 key=self.admin)
        return status, payload

    def test_no_request_fails_after_the_workers_idle_timeout(self):
        env = dict(os.environ, BERTH_SERVER=self.server.url(""), BERTH_API_KEY=self.admin,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        res = subprocess.run([BERTH, "deploy", os.path.join(FIXTURES, "add_sub", "1",
                                                            "model.onnx"),
                              "--name", "addsub", "--replicas", "2", "--timeout", "120s"],
                             env=env, capture_output=True, text=True, timeout=180)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        # Fill the gateway's pools of both replicas with several connections each.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            warm = list(pool.map(self.infer, range(64)))
        self.assertEqual([s for s, _ in warm], [200] * 64, warm[:3])
        # The idle spell itself (not a wait for some state): past the workers' timeout, so
        # that every connection the gateway pooled has been closed by its worker.
        time.sleep(WORKER_IDLE_TIMEOUT_S + 10)
        after = [self.infer() for _ in range(8)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            after += list(pool.map(self.infer, range(32)))
        failed = [(s, p[:200]) for s, p in after if s != 200]
        self.assertEqual(failed, [], self.server.log()[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
