#!/usr/bin/python3
"""`berth server` end to end: the real server, the real CLI and real worker processes.

The journey (admin key -> keys with scopes -> deploy the demo model -> the printed curl works),
the failures the gateway and API must answer clearly, and the supervisor's promises (a crashed
replica comes back, a revision that cannot start leaves the previous one serving, the server
survives kill -9 and adopts its replicas without duplicates)."""
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BERTH = os.environ.get("BERTH_BIN", os.path.join(ROOT, "build", "berth"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "models")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what, check, timeout=120):
    """Calls check() until it returns something truthy, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (urllib.error.URLError, ConnectionError, KeyError) as e:
            last = e
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Server:
    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.http_port = free_port()
        self.grpc_port = free_port()
        # The log lives beside the data directory, so that removing the test's directory
        # removes it too.
        self.out = open(os.path.join(os.path.dirname(data_dir), "server-%d.log" % self.http_port),
                        "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [BERTH, "server", "--data-dir", self.data_dir, "--http-port", str(self.http_port),
             "--grpc-port", str(self.grpc_port), *self.extra_args],
            stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        poll("the server's health endpoint", lambda: self.request("GET", "/healthz")[0] == 200,
             timeout=60)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)

    def log(self):
        with open(self.out.name, errors="replace") as f:
            return f.read()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def request(self, method, path, body=None, key=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url(path), data=data, method=method)
        if key:
            req.add_header("Authorization", "Bearer " + key)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                payload = r.read()
                return r.status, payload, dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def api(self, method, path, body=None, key=None, **kw):
        status, payload, headers = self.request(method, "/api/v1" + path, body, key, **kw)
        doc = json.loads(payload) if payload and payload[:1] in (b"{", b"[") else payload
        return status, doc


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-server-test-")
        cls.server = Server(os.path.join(cls.tmp, "data"))
        cls.server.start()
        match = poll("the admin key on the first start",
                     lambda: re.search(r"(brth_[A-Za-z0-9]{28})", cls.server.log()), timeout=30)
        cls.admin = match.group(1)
        cls.env = dict(os.environ, BERTH_SERVER=cls.server.url(""), BERTH_API_KEY=cls.admin,
                       XDG_CONFIG_HOME=os.path.join(cls.tmp, "config"))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        sys.stderr.write(cls.server.log()[-3000:])
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cli(self, *args, check=True, key=None):
        env = dict(self.env)
        if key:
            env["BERTH_API_KEY"] = key
        res = subprocess.run([BERTH, *args], capture_output=True, text=True, env=env, timeout=300)
        if check and res.returncode != 0:
            self.fail("berth %s failed (%d):\n%s%s\n--- server log ---\n%s" % (
                " ".join(args), res.returncode, res.stdout, res.stderr, self.server.log()[-4000:]))
        return res

    def service(self, name):
        status, doc = self.server.api("GET", "/services/" + name, key=self.admin)
        self.assertEqual(status, 200, doc)
        return doc

    def infer_addsub(self, service="addsub", key=None):
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                            "data": list(range(16))},
                           {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16],
                            "data": [1] * 16}]}
        return self.server.request("POST", "/v2/models/%s/infer" % service, body,
                                   key=key or self.admin)

    # --- authentication and keys -------------------------------------------------------------

    def test_01_health_is_public_everything_else_needs_a_key(self):
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.server.request("GET", "/metrics")[0], 200)
        status, doc = self.server.api("GET", "/services")
        self.assertEqual(status, 401)
        self.assertIn("API key", doc["error"])
        status, doc = self.server.api("GET", "/services", key="brth_notakeyatall0000000000000000")
        self.assertEqual(status, 401)
        self.assertNotIn("brth_notakey", doc["error"])  # never echoed
        status, _, _ = self.server.request("POST", "/v2/models/demo/infer", {"inputs": []})
        self.assertEqual(status, 401)
        status, doc = self.server.api("GET", "/openapi.json")
        self.assertEqual(status, 200)
        self.assertIn("/api/v1/services", json.dumps(doc))
        status, doc = self.server.api("GET", "/server", key=self.admin)
        self.assertEqual((status, doc["http_port"], doc["grpc_port"]),
                         (200, self.server.http_port, self.server.grpc_port))
        # The sample image that classification samples name is public, and the console's
        # missing assets are 404, not the HTML page.
        status, png, headers = self.server.request("GET", "/samples/digit-7.png")
        self.assertEqual((status, headers["Content-Type"], png[:4]), (200, "image/png", b"\x89PNG"))
        self.assertEqual(self.server.request("GET", "/assets/missing-1234.js")[0], 404)

    def test_02_keys_have_scopes_and_revocation_is_immediate(self):
        res = self.cli("keys", "create", "--name", "reader", "--scope", "read")
        key = re.search(r"(brth_[A-Za-z0-9]{28})", res.stdout).group(1)
        # A key that was never used has a null last_used_at: every output renders it.
        status, doc = self.server.api("GET", "/keys", key=self.admin)
        self.assertIsNone([k for k in doc["items"] if k["name"] == "reader"][0]["last_used_at"])
        for output in ([], ["-o", "json"], ["-o", "yaml"]):
            listing = self.cli("keys", "list", *output)
            self.assertIn("reader", listing.stdout, output)
        self.assertIn("never", self.cli("keys", "list").stdout)
        self.assertEqual(self.server.api("GET", "/services", key=key)[0], 200)
        status, doc = self.server.api("PUT", "/services/x", {"model": "digits"}, key=key)
        self.assertEqual(status, 403)
        self.assertIn("deploy", doc["error"])
        status, doc = self.server.api("GET", "/keys", key=self.admin)
        listed = [k for k in doc["items"] if k["name"] == "reader"][0]
        self.assertEqual(listed["prefix"], key[:12])
        self.assertNotIn("key", listed)
        # Only the hash is stored.
        with open(os.path.join(self.server.data_dir, "berth.db"), "rb") as db:
            self.assertNotIn(key.encode(), db.read())
        self.cli("keys", "revoke", listed["id"])
        self.assertEqual(self.server.api("GET", "/services", key=key)[0], 401)
        # A key with a typo is refused by its checksum.
        typo = key[:-1] + ("a" if key[-1] != "a" else "b")
        status, doc = self.server.api("GET", "/services", key=typo)
        self.assertEqual(status, 401)

    # --- the journey -------------------------------------------------------------------------

    def test_02b_whoami_version_and_logout(self):
        res = self.cli("whoami")
        self.assertRegex(res.stdout, r"^key \S+ \(brth_\w+.*scopes .*admin.*\) on http://127\.0\.0\.1:%d"
                         % self.server.http_port)
        doc = json.loads(self.cli("whoami", "-o", "json").stdout)
        self.assertIn("admin", doc["scopes"])
        version = self.cli("version").stdout
        client = re.search(r"client: berth (\S+)", version).group(1)
        self.assertIn("server: %s at http://127.0.0.1:%d" % (client, self.server.http_port), version)
        self.assertEqual(json.loads(self.cli("version", "-o", "json").stdout),
                         {"client": client, "server": client})
        # A server that is not there: the client's version all the same, and exit 0.
        gone = self.cli("version", "--server", "http://127.0.0.1:1")
        self.assertIn("server: unknown (cannot reach", gone.stdout)
        # With -o json, an error is a JSON document on stderr too.
        res = self.cli("describe", "nosuch", "-o", "json", check=False)
        self.assertEqual(res.returncode, 1)
        err = json.loads(res.stderr)
        self.assertEqual(err["status"], 404, err)
        self.assertIn("nosuch", err["error"])
        # logout removes what login saved; a second one says there was nothing.
        self.cli("login", "--server", self.server.url(""), "--key", self.admin)
        config = os.path.join(self.tmp, "config", "berth", "config.json")
        self.assertTrue(os.path.exists(config))
        out = self.cli("logout").stdout
        self.assertIn("logged out: removed " + config, out)
        self.assertIn("BERTH_API_KEY is still set", out)
        self.assertFalse(os.path.exists(config))
        self.assertIn("not logged in", self.cli("logout").stdout)

    def test_02c_shell_completion_knows_commands_and_flags(self):
        script = self.cli("completion", "bash").stdout
        probe = ('source /dev/stdin; for words in "keys cr" "deploy --model-v" "models describe"; '
                 'do read -ra COMP_WORDS <<< "berth $words"; COMP_CWORD=$((${#COMP_WORDS[@]}-1)); '
                 '_berth; echo "${COMPREPLY[*]}"; done')
        out = subprocess.run(["bash", "-c", probe], input=script, capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.stdout.splitlines(), ["create", "--model-version", "describe"],
                         out.stderr)
        self.assertIn("bashcompinit", self.cli("completion", "zsh").stdout)
        self.assertEqual(self.cli("completion", "fish", check=False).returncode, 2)

    def test_03_deploy_demo_and_the_printed_curl_works_verbatim(self):
        res = self.cli("deploy", "--demo", "--timeout", "240s")
        self.assertIn("is ready", res.stdout)
        curl = [line for line in res.stdout.splitlines() if line.startswith("curl ")]
        self.assertEqual(len(curl), 1, res.stdout)
        self.assertIn("/services/demo/v1/classify", curl[0])
        self.assertNotIn(self.admin, res.stdout + res.stderr)  # the key is never printed
        self.assertIn("$BERTH_API_KEY", curl[0])
        # Without the variable set, the CLI says how to set it.
        env = dict(self.env)
        env.pop("BERTH_API_KEY")
        env["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "config-hint")
        subprocess.run([BERTH, "login", "--server", self.server.url(""), "--key", self.admin],
                       env=env, check=True, capture_output=True, timeout=60)
        hinted = subprocess.run([BERTH, "deploy", "--demo"], env=env, capture_output=True,
                                text=True, timeout=300)
        self.assertEqual(hinted.returncode, 0, hinted.stderr)
        self.assertIn("export BERTH_API_KEY=", hinted.stdout)
        self.assertNotIn(self.admin, hinted.stdout + hinted.stderr)
        out = subprocess.run(["bash", "-c", curl[0] + " -s -w '\\n%{http_code}'"],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": os.environ["PATH"], "BERTH_API_KEY": self.admin})
        body, code = out.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200", out.stdout + out.stderr)
        self.assertEqual(json.loads(body)["predictions"][0]["label"], "7")
        # An invoke key for the demo service may call it, and nothing else.
        status, doc = self.server.api("POST", "/keys", {"name": "app", "scopes": ["invoke:demo"]},
                                      key=self.admin)
        self.assertEqual(status, 201)
        with open(os.path.join(ROOT, "tests", "fixtures", "digits", "3.png"), "rb") as f:
            png = f.read()
        status, payload, _ = self.server.request(
            "POST", "/services/demo/v1/classify", raw=png, key=doc["key"],
            headers={"Content-Type": "image/png"})
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["predictions"][0]["label"], "3")
        self.assertEqual(self.server.api("GET", "/services", key=doc["key"])[0], 403)
        self.assertEqual(self.server.request("POST", "/v2/models/other/infer", {"inputs": []},
                                             key=doc["key"])[0], 403)
        # The CLI lists it, events tell the story, logs come from the replica.
        self.assertIn("demo", self.cli("services").stdout)
        events = self.cli("events", "demo").stdout
        for reason in ("Created", "RevisionCreated", "ReplicaReady", "RevisionReady"):
            self.assertIn(reason, events)
        self.assertIn("serving HTTP", self.cli("logs", "demo").stdout)

    def test_03b_a_console_session_says_what_it_may_do_and_can_call_services(self):
        res = self.cli("keys", "create", "--name", "viewer", "--scope", "read")
        viewer = re.search(r"(brth_[A-Za-z0-9]{28})", res.stdout).group(1)
        status, _, headers = self.server.request("POST", "/api/v1/session", {"key": viewer})
        self.assertEqual(status, 200)
        cookie = headers["Set-Cookie"].split(";")[0]
        status, doc = self.server.api("GET", "/session", headers={"Cookie": cookie})
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["via"], doc["key"]["name"]), ("session", "viewer"))
        actions = doc["actions"]
        self.assertTrue(actions["read"]["allowed"])
        self.assertFalse(actions["deploy"]["allowed"])
        self.assertIn("viewer", actions["deploy"]["reason"])
        self.assertFalse(actions["manage_keys"]["allowed"])
        self.assertFalse(actions["invoke"]["allowed"])
        status, doc = self.server.api("GET", "/session", key=self.admin)
        self.assertEqual((doc["via"], doc["actions"]["invoke"]), ("key", {"allowed": True,
                                                                         "services": None}))
        # An admin's console session calls the data plane without a key (the console's try-it),
        # but only with the console's own header: a cookie also rides on cross-site requests.
        status, _, headers = self.server.request("POST", "/api/v1/session", {"key": self.admin})
        admin_cookie = headers["Set-Cookie"].split(";")[0]
        with open(os.path.join(ROOT, "tests", "fixtures", "digits", "3.png"), "rb") as f:
            png = f.read()
        status, payload, _ = self.server.request(
            "POST", "/services/demo/v1/classify", raw=png,
            headers={"Content-Type": "image/png", "Cookie": admin_cookie, "X-Berth-Console": "1"})
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["predictions"][0]["label"], "3")
        status, payload, _ = self.server.request(
            "POST", "/services/demo/v1/classify", raw=png,
            headers={"Content-Type": "image/png", "Cookie": admin_cookie})
        self.assertEqual(status, 403, payload)
        self.assertIn("X-Berth-Console", json.loads(payload)["error"])
        # The viewer's session may not call services.
        status, _, _ = self.server.request(
            "POST", "/services/demo/v1/classify", raw=png,
            headers={"Content-Type": "image/png", "Cookie": cookie, "X-Berth-Console": "1"})
        self.assertEqual(status, 403)
        # Key names are unique among active keys, invoke:NAME names a service, revoke takes a
        # name, and the CLI asks for a scope instead of passing the API's wording on.
        status, doc = self.server.api("POST", "/keys", {"name": "viewer", "scopes": ["read"]},
                                      key=self.admin)
        self.assertEqual(status, 409, doc)
        self.assertIn("viewer", doc["error"])
        status, doc = self.server.api("POST", "/keys", {"name": "x", "scopes": ["invoke:nosuch"]},
                                      key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("invoke:nosuch", doc["error"])
        res = self.cli("keys", "create", "--name", "noscope", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--scope is required", res.stderr)
        self.assertIn("revoked", self.cli("keys", "revoke", "viewer").stdout)
        self.assertEqual(self.server.api("GET", "/session", headers={"Cookie": cookie})[0], 401)
        # The request log has what was just called, by key name and never a key.
        status, doc = self.server.api("GET", "/services/demo/requests?limit=20", key=self.admin)
        self.assertEqual(status, 200, doc)
        self.assertNotIn("brth_", json.dumps(doc))
        # A key the service turns away is in it too (the viewer's), with no replica.
        refused = doc["items"][0]
        self.assertEqual((refused["route"], refused["status"], refused["key"], refused["replica"]),
                         ("/services/demo/v1/classify", 403, "viewer", ""), refused)
        ok = [e for e in doc["items"] if e["status"] != 403]
        self.assertEqual((ok[0]["route"], ok[0]["method"], ok[0]["status"], ok[0]["key"]),
                         ("/services/demo/v1/classify", "POST", 200, "admin"), ok[0])
        self.assertIn("app", [e["key"] for e in ok])  # test_03's invoke key
        self.assertEqual(ok[0]["bytes_in"], len(png))
        self.assertTrue(ok[0]["replica"].startswith("demo-") and ok[0]["revision"] >= 1, ok[0])
        self.assertGreater(ok[0]["bytes_out"], 0)
        listing = self.cli("logs", "demo", "--requests", "--tail", "5").stdout
        self.assertRegex(listing, r"POST\s+/services/demo/v1/classify\s+200\s+[\d.]+ ms")
        # -f prints the requests as they come (one JSON object a line with -o json).
        follower = subprocess.Popen([BERTH, "logs", "demo", "--requests", "-f", "--tail", "1",
                                     "-o", "json"], stdout=subprocess.PIPE, text=True,
                                    env=self.env)
        # readline blocks until the follower prints: the timer bounds it.
        timer = threading.Timer(60, follower.kill)
        timer.start()
        try:
            first = json.loads(follower.stdout.readline())
            self.assertEqual(first["seq"], doc["items"][0]["seq"])
            status, _, _ = self.server.request("GET", "/v2/models/demo/ready", key=self.admin)
            self.assertEqual(status, 200)
            followed = json.loads(follower.stdout.readline())
            self.assertEqual((followed["route"], followed["status"], followed["seq"]),
                             ("/v2/models/demo/ready", 200, first["seq"] + 1), followed)
        finally:
            timer.cancel()
            follower.kill()
            follower.wait()
        self.assertEqual(self.server.api("GET", "/services/demo/requests?limit=0",
                                         key=self.admin)[0], 400)
        # Unknown replicas and services are errors, not empty answers.
        res = self.cli("logs", "demo", "--replica", "bogus", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("no replica 'bogus'", res.stderr)
        res = self.cli("events", "nosuch", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("no service named 'nosuch'", res.stderr)

    def test_04_bad_input_gets_clear_errors(self):
        status, _, _ = self.server.request("POST", "/v2/models/nope/infer", {"inputs": []},
                                           key=self.admin)
        self.assertEqual(status, 404)
        status, doc = self.server.api("PUT", "/services/bad", {"model": "digits",
                                                               "replicas": "two"}, key=self.admin)
        self.assertEqual(status, 400)
        self.assertIn("spec.replicas", doc["error"])
        status, doc = self.server.api("PUT", "/services/bad", {"model": "digits", "replica": 2},
                                      key=self.admin)
        self.assertEqual(status, 400)
        self.assertIn("replica: unknown field", doc["error"])
        status, doc = self.server.api("PUT", "/services/Bad_Name", {"model": "digits"},
                                      key=self.admin)
        self.assertEqual(status, 400)
        self.assertIn("name", doc["error"])
        status, doc = self.server.api("PUT", "/services/bad", {"model": "missing"}, key=self.admin)
        self.assertEqual(status, 400)
        self.assertIn("no model named 'missing'", doc["error"])
        status, doc = self.server.api("POST", "/services", raw=b"{not json", key=self.admin)
        self.assertEqual(status, 400)
        # Query parameters are checked, not defaulted.
        for query, name in (("limit=abc", "limit"), ("limit=0", "limit"), ("after=-1", "after"),
                            ("limit=5000", "limit")):
            status, doc = self.server.api("GET", "/events?" + query, key=self.admin)
            self.assertEqual(status, 400, (query, doc))
            self.assertIn("?" + name + "=", doc["error"])
        status, doc = self.server.api("GET", "/services/demo/logs?tail=x", key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("?tail=", doc["error"])
        # A field of the wrong type is a 400 that names the field, on every resource.
        for path, body, field in [
                ("/models", {"name": 5, "uri": "x"}, "name"),
                ("/models", {"name": "m", "uri": 5}, "uri"),
                ("/services", {"name": 5, "model": "digits"}, "name"),
                ("/services", {"name": "typed", "model": ["digits"]}, "spec.model"),
                ("/keys", {"name": ["x"], "scopes": ["read"]}, "name"),
                ("/keys", {"name": "k", "scopes": [5]}, "scopes"),
                ("/session", {"key": 5}, "key"),
                ("/services/typed", {"model": "digits", "batching": {"max_batch_size": "8"}},
                 "spec.batching.max_batch_size"),
                ("/services/typed", {"model": "digits", "resources": []}, "spec.resources"),
                ("/services/typed", {"model": "digits", "image": {"top_k": "3"}},
                 "spec.image.top_k"),
                ("/services/typed", {"model": "digits", "inputs": [{"name": 5}],
                                     "outputs": [{"name": "y"}]}, "spec.inputs[0].name"),
                ("/services/typed", {"model": "digits",
                                     "inputs": [{"name": "x", "datatype": 5, "shape": [1]}],
                                     "outputs": [{"name": "y", "datatype": "FP32",
                                                  "shape": [1]}]},
                 "spec.inputs[0].datatype")]:
            method = "PUT" if path.startswith("/services/") else "POST"
            status, doc = self.server.api(method, path, body, key=self.admin)
            self.assertEqual(status, 400, (path, body, doc))
            self.assertIn(field, doc["error"], (path, body))
        # Not a model at all.
        status, doc = self.server.api("POST", "/models?name=junk", raw=b"hello world" * 100,
                                      key=self.admin,
                                      headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 400)
        self.assertIn("not a model", doc["error"])
        # An ONNX file cut short: the engine's reason, and nothing half-registered.
        with open(os.path.join(FIXTURES, "tiny_cnn", "1", "model.onnx"), "rb") as f:
            data = f.read()
        status, doc = self.server.api("POST", "/models?name=cut", raw=data[: len(data) * 2 // 3],
                                      key=self.admin,
                                      headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 400, doc)
        self.assertEqual(self.server.api("GET", "/models/cut", key=self.admin)[0], 404)
        self.assertFalse(os.path.exists(os.path.join(self.server.data_dir, "models", "cut")))
        self.assertEqual(os.listdir(os.path.join(self.server.data_dir, "tmp")), [])
        # A service with no ready replica answers 503 with Retry-After.
        status, doc = self.server.api("PUT", "/services/idle", {"model": "digits", "replicas": 0},
                                      key=self.admin)
        self.assertIn(status, (200, 201), doc)
        poll("the idle service's revision", lambda: self.service("idle")["current_revision"] == 1)
        status, payload, headers = self.server.request(
            "POST", "/services/idle/v1/classify", raw=b"x", key=self.admin,
            headers={"Content-Type": "image/png"})
        self.assertEqual(status, 503, payload)
        self.assertEqual(headers.get("Retry-After"), "1")
        self.assertEqual(self.server.api("DELETE", "/services/idle", key=self.admin)[0], 202)

    # --- supervision ---------------------------------------------------------------------------

    def test_05_a_revision_that_cannot_start_leaves_the_previous_serving(self):
        self.cli("deploy", os.path.join(FIXTURES, "add_sub", "1", "model.onnx"), "--name",
                 "addsub", "--timeout", "240s")
        self.assertEqual(self.infer_addsub()[0], 200)
        # The README's V2 curl works as written (run from the repository, against this server).
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = [l.split("  #")[0].strip() for l in f
                      if l.startswith("curl ") and "/v2/models/addsub/infer" in l]
        self.assertEqual(len(readme), 1, readme)
        command = readme[0].replace("localhost:8080", "127.0.0.1:%d" % self.server.http_port)
        out = subprocess.run(["bash", "-c", command + " -s -w '\\n%{http_code}'"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": os.environ["PATH"], "BERTH_API_KEY": self.admin})
        body, code = out.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200", out.stdout + out.stderr)
        self.assertEqual(json.loads(body)["outputs"][0]["data"], [x + 1 for x in range(16)])
        # Through the gateway a gzip body reaches the replica, and an answer asked for in gzip
        # comes back in gzip; a coding nobody reads is a 415 from the replica, relayed.
        request = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                               "data": list(range(16))},
                              {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16],
                               "data": [2] * 16}]}
        status, payload, headers = self.server.request(
            "POST", "/v2/models/addsub/infer", raw=gzip.compress(json.dumps(request).encode()),
            key=self.admin, headers={"Content-Type": "application/json",
                                     "Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
        self.assertEqual(status, 200, payload)
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        self.assertEqual(json.loads(gzip.decompress(payload))["outputs"][0]["data"],
                         [x + 2 for x in range(16)])
        status, payload, _ = self.server.request(
            "POST", "/v2/models/addsub/infer", raw=json.dumps(request).encode(), key=self.admin,
            headers={"Content-Type": "application/json", "Content-Encoding": "br"})
        self.assertEqual(status, 415, payload)
        # Shared memory is a same-host feature of a worker: the gateway says so, and a replica
        # refuses an inference that names a region instead of reading one it was never given.
        status, payload, _ = self.server.request("GET", "/v2/systemsharedmemory/status",
                                                 key=self.admin)
        self.assertEqual(status, 400, payload)
        self.assertIn("same-host", json.loads(payload)["error"])
        shm = dict(request["inputs"][0], parameters={"shared_memory_region": "r",
                                                     "shared_memory_byte_size": 64})
        del shm["data"]
        status, payload, _ = self.server.request(
            "POST", "/v2/models/addsub/infer", {"inputs": [shm, request["inputs"][1]]},
            key=self.admin)
        self.assertEqual(status, 400, payload)
        self.assertIn("serves no shared memory", json.loads(payload)["error"])
        status, payload, _ = self.server.request("POST", "/v2/repository/models/addsub/load",
                                                 {}, key=self.admin)
        self.assertEqual(status, 400, payload)
        self.assertIn("berth deploy", json.loads(payload)["error"])
        # The repository index lists the services the key may call.
        status, key = self.server.api("POST", "/keys", {"name": "index-reader",
                                                        "scopes": ["invoke:addsub"]},
                                      key=self.admin)
        self.assertEqual(status, 201, key)
        for who, body in ((self.admin, {}), (key["key"], {"ready": True}), (key["key"], None)):
            status, payload, _ = self.server.request("POST", "/v2/repository/index", body,
                                                     key=who)
            self.assertEqual(status, 200, payload)
            index = json.loads(payload)
            self.assertIn({"name": "addsub", "state": "READY"}, index)
            if who != self.admin:
                self.assertEqual([e["name"] for e in index], ["addsub"])
        status, payload, _ = self.server.request("POST", "/v2/repository/index", {"ready": 1},
                                                 key=self.admin)
        self.assertEqual(status, 400, payload)
        # TorchScript carries no signature: without a declared one the spec is refused (400,
        # naming the field); with one it serves through the libtorch plugin.
        self.cli("models", "upload", os.path.join(FIXTURES, "tiny_cnn_pt", "1", "model.pt"),
                 "--name", "nosig")
        status, doc = self.server.api("PUT", "/services/addsub", {"model": "nosig"},
                                      key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("spec.inputs", doc["error"])
        res = self.cli("deploy", "--model", "nosig", "--name", "torch", "--model-input",
                       "INPUT__0:FP32:-1x1x28x28", "--model-output", "OUTPUT__0:FP32:-1x10",
                       "--timeout", "240s")
        self.assertIn("is ready", res.stdout)
        status, payload, _ = self.server.request(
            "POST", "/v2/models/torch/infer",
            {"inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [2, 1, 28, 28],
                         "data": [0.5] * (2 * 28 * 28)}]}, key=self.admin)
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["outputs"][0]["shape"], [2, 10])
        self.cli("delete", "torch")
        # A declared signature the model does not have: the worker refuses to load it, three
        # crashes fail revision 2, and revision 1 keeps serving.
        wrong = {"model": "addsub",
                 "inputs": [{"name": "NOPE", "datatype": "FP32", "shape": [-1, 16]}],
                 "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 16]}]}
        status, doc = self.server.api("PUT", "/services/addsub", wrong, key=self.admin)
        self.assertEqual(status, 200, doc)
        failed = poll("revision 2 to fail", lambda: self.service("addsub")["status"] == "Degraded"
                      and self.service("addsub"), timeout=180)
        self.assertIn("revision 2 failed", failed["reason"])
        self.assertEqual(failed["current_revision"], 1)
        self.assertEqual(self.infer_addsub()[0], 200)
        status, doc = self.server.api("GET", "/services/addsub/revisions", key=self.admin)
        self.assertEqual([r["status"] for r in doc["items"]], ["Ready", "Failed"])
        for bad, needle in (({"model": "addsub", "inputs": wrong["inputs"]}, "declare both"),
                            ({"model": "addsub", "inputs": [{"name": "x", "datatype": "FP99",
                                                             "shape": [1]}],
                              "outputs": wrong["outputs"]}, "spec.inputs[0].datatype"),
                            ({"model": "addsub", "inputs": [{"name": "x", "datatype": "FP32",
                                                             "shape": [0]}],
                              "outputs": wrong["outputs"]}, "spec.inputs[0].shape")):
            status, doc = self.server.api("PUT", "/services/addsub", bad, key=self.admin)
            self.assertEqual(status, 400, doc)
            self.assertIn(needle, doc["error"])
        # After a failed rollout, a rollback restores what serves (revision 1), not the one
        # before it.
        res = self.cli("rollback", "addsub")
        self.assertIn("revision 3 restores the spec of revision 1", res.stdout)
        poll("revision 3 to serve", lambda: self.service("addsub")["current_revision"] == 3)
        self.assertNotIn("inputs", self.service("addsub")["spec"])
        # A merge patch with a memory limit (null removes a field, here one that is absent):
        # revision 4, serving again.
        status, doc = self.server.api("PATCH", "/services/addsub",
                                      {"inputs": None, "outputs": None,
                                       "resources": {"memory": "1Gi"}}, key=self.admin)
        self.assertEqual((status, doc.get("change")), (200, "revision"), doc)
        poll("revision 4 to serve", lambda: self.service("addsub")["current_revision"] == 4,
             timeout=240)
        self.assertEqual(self.service("addsub")["status"], "Ready")
        # Roll back to the spec before (revision 3, itself revision 1's spec): revision 5
        # restores revision 1, without the memory limit.
        status, doc = self.server.api("POST", "/services/addsub/rollback", key=self.admin)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["latest_revision"], 5)
        poll("the rollback to serve", lambda: self.service("addsub")["current_revision"] == 5)
        self.assertNotIn("memory", self.service("addsub")["spec"]["resources"])
        # Rollbacks walk back instead of flipping between two specs: nothing is before 1.
        status, doc = self.server.api("POST", "/services/addsub/rollback", key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("no earlier revision", doc["error"])
        # A chosen revision; a failed or unknown one is refused naming it.
        for body, code, needle in (({"revision": 2}, (400,), "revision 2"),
                                   ({"revision": 99}, (404,), "no revision 99"),
                                   ({"revision": "4"}, (400,), "revision")):
            status, doc = self.server.api("POST", "/services/addsub/rollback", body,
                                          key=self.admin)
            self.assertIn(status, code, (body, doc))
            self.assertIn(needle, doc["error"])
        res = self.cli("rollback", "addsub", "--to-revision", "4")
        self.assertIn("revision 6 restores the spec of revision 4", res.stdout)
        poll("revision 6 to serve", lambda: self.service("addsub")["current_revision"] == 6)
        self.assertEqual(self.service("addsub")["spec"]["resources"]["memory"], "1Gi")
        listing = self.cli("revisions", "addsub").stdout
        self.assertRegex(listing, r"\n2\s+Failed")
        self.assertRegex(listing, r"\n6\s+Ready\s+yes\s+100%\s+addsub\s+revision 4")

    def test_05b_a_partial_update_keeps_what_it_does_not_name(self):
        self.cli("deploy", "--model", "addsub", "--name", "partial", "--replicas", "2",
                 "--memory", "1Gi", "--timeout", "240s")
        before = self.service("partial")
        # deploy on a name that exists changes only what its flags give.
        res = self.cli("deploy", "--model", "addsub", "--name", "partial", "--max-batch", "4",
                       "--timeout", "240s")
        self.assertIn("revision 2 created", res.stderr + res.stdout)
        after = self.service("partial")
        self.assertEqual(after["latest_revision"], before["latest_revision"] + 1)
        self.assertEqual(after["replicas"], 2, after)
        self.assertEqual(after["spec"]["resources"]["memory"], "1Gi")
        self.assertEqual(after["spec"]["batching"]["max_batch_size"], 4)
        # The revision that serves takes all the traffic, the one it replaced none.
        def shares():
            status, revisions = self.server.api("GET", "/services/partial/revisions",
                                                key=self.admin)
            return {r["number"]: r["traffic_percent"] for r in revisions["items"]}
        expected = {after["latest_revision"] - 1: 0, after["latest_revision"]: 100}
        poll("revision %d to take all the traffic" % after["latest_revision"],
             lambda: shares() == expected, timeout=30)
        self.assertIn("100%", self.cli("revisions", "partial").stdout)
        # Scaling makes no revision and says what it did.
        res = self.cli("scale", "partial", "--replicas", "1")
        self.assertIn("scaled partial to 1 replica", res.stdout)
        scaled = self.service("partial")
        self.assertEqual((scaled["replicas"], scaled["latest_revision"]),
                         (1, after["latest_revision"]))
        status, doc = self.server.api("PATCH", "/services/partial", {"replicas": 3},
                                      key=self.admin)
        self.assertEqual((status, doc["change"]), (200, "scaled"), doc)
        status, doc = self.server.api("PATCH", "/services/partial", {"replicas": 3},
                                      key=self.admin)
        self.assertEqual((status, doc["change"]), (200, "unchanged"), doc)
        # Bad patches are refused naming what is wrong, and change nothing.
        for patch, code, needle in (({"replicas": "many"}, 400, "spec.replicas"),
                                    ({"name": "other"}, 400, "name"),
                                    ({"batching": {"max_batch_size": -1}}, 400,
                                     "spec.batching.max_batch_size")):
            status, doc = self.server.api("PATCH", "/services/partial", patch, key=self.admin)
            self.assertEqual(status, code, (patch, doc))
            self.assertIn(needle, doc["error"])
        status, doc = self.server.api("PATCH", "/services/nosuch", {"replicas": 1},
                                      key=self.admin)
        self.assertEqual(status, 404, doc)
        final = self.service("partial")
        self.assertEqual((final["replicas"], final["latest_revision"]),
                         (3, after["latest_revision"]))
        # Statistics through the gateway are the service's, summed over its three replicas,
        # as perf_analyzer reads them before and after a run.
        poll("3 ready replicas", lambda: self.service("partial")["ready_replicas"] == 3)
        for _ in range(9):
            self.assertEqual(self.infer_addsub(service="partial")[0], 200)
        status, payload, _ = self.server.request("GET", "/v2/models/partial/stats",
                                                 key=self.admin)
        self.assertEqual(status, 200, payload)
        stats = json.loads(payload)["model_stats"]
        self.assertEqual([(m["name"], m["inference_count"],
                           m["inference_stats"]["success"]["count"]) for m in stats],
                         [("partial", 9, 9)], stats)
        self.cli("delete", "partial")
        poll("partial to be deleted",
             lambda: self.server.api("GET", "/services/partial", key=self.admin)[0] == 404)

    def test_05d_a_service_answers_to_a_triton_model_name(self):
        # Triton's model names (underscores, dots, capitals) are no service names; a service
        # answers to one as well with --model-name, on every V2 route.
        self.cli("deploy", "--model", "addsub", "--name", "tritonish", "--model-name",
                 "simple_Add.v1", "--timeout", "240s")
        self.assertIn("simple_Add.v1", self.cli("describe", "tritonish").stdout)
        for name in ("simple_Add.v1", "tritonish"):
            status, payload, _ = self.infer_addsub(service=name)
            self.assertEqual(status, 200, payload)
            self.assertEqual(json.loads(payload)["model_name"], "simple_Add.v1")
        status, payload, _ = self.server.request("GET", "/v2/models/simple_Add.v1",
                                                 key=self.admin)
        self.assertEqual((status, json.loads(payload)["name"]), (200, "simple_Add.v1"), payload)
        status, payload, _ = self.server.request("GET", "/v2/models/simple_Add.v1/stats",
                                                 key=self.admin)
        self.assertEqual(status, 200, payload)
        stats = json.loads(payload)["model_stats"]
        self.assertEqual([m["name"] for m in stats], ["simple_Add.v1"])
        self.assertGreaterEqual(stats[0]["inference_count"], 2)
        # Every service's statistics at once, and the index, under the names clients use.
        status, payload, _ = self.server.request("GET", "/v2/models/stats", key=self.admin)
        self.assertEqual(status, 200, payload)
        names = [m["name"] for m in json.loads(payload)["model_stats"]]
        self.assertIn("simple_Add.v1", names)
        self.assertIn("addsub", names)
        status, payload, _ = self.server.request("POST", "/v2/repository/index", {},
                                                 key=self.admin)
        self.assertIn({"name": "simple_Add.v1", "state": "READY"}, json.loads(payload))
        status, payload, _ = self.server.request("GET", "/v2", key=self.admin)
        self.assertIn("statistics", json.loads(payload)["extensions"])
        # A key's scope names the service, whichever name the request uses.
        status, key = self.server.api("POST", "/keys", {"name": "tritonish-caller",
                                                        "scopes": ["invoke:tritonish"]},
                                      key=self.admin)
        self.assertEqual(status, 201, key)
        self.assertEqual(self.infer_addsub(service="simple_Add.v1", key=key["key"])[0], 200)
        status, payload, _ = self.infer_addsub(service="addsub", key=key["key"])
        self.assertEqual(status, 403, payload)
        status, payload, _ = self.server.request("GET", "/v2/models/stats", key=key["key"])
        self.assertEqual([m["name"] for m in json.loads(payload)["model_stats"]],
                         ["simple_Add.v1"])
        # A name reaches one service; a bad one is refused naming the field.
        for spec, code, needle in (({"model": "addsub", "model_name": "simple_Add.v1"}, 409,
                                    "tritonish"),
                                   ({"model": "addsub", "model_name": "addsub"}, 409, "addsub"),
                                   ({"model": "addsub", "model_name": "../etc"}, 400,
                                    "spec.model_name"),
                                   ({"model": "addsub", "model_name": "a" * 129}, 400,
                                    "spec.model_name")):
            status, doc = self.server.api("PUT", "/services/other", spec, key=self.admin)
            self.assertEqual(status, code, (spec, doc))
            self.assertIn(needle, doc["error"])
        status, doc = self.server.api("PUT", "/services/other", {"model": "addsub"},
                                      key=self.admin)
        self.assertEqual(status, 201, doc)
        status, doc = self.server.api("PATCH", "/services/other", {"model_name": "tritonish"},
                                      key=self.admin)
        self.assertEqual(status, 409, doc)
        self.cli("delete", "other")
        self.cli("delete", "tritonish")
        poll("tritonish to be deleted",
             lambda: self.server.api("GET", "/services/tritonish", key=self.admin)[0] == 404)
        status, payload, _ = self.infer_addsub(service="simple_Add.v1")
        self.assertEqual(status, 404, payload)

    def test_05e_autoscaling_settings(self):
        # The autoscaler's settings are checked field by field; changing them makes no
        # revision (how many replicas is the service's, not a revision's).
        for spec, needle in (({"min_replicas": 1, "scale_to_zero_after_s": 30},
                              "only a service that scales to zero"),
                             ({"min_replicas": 0, "cold_start_timeout_s": 0},
                              "spec.autoscaling.cold_start_timeout_s"),
                             ({"metric": "cpu"}, "give spec.resources.cpu too"),
                             ({"metric": "latency"}, "is not a metric"),
                             ({"max_replicas": 2, "initial_replicas": 3},
                              "initial_replicas: 3 is outside min_replicas (1) to max_replicas (2)"),
                             ({"min_replicas": 3, "max_replicas": 2}, "below min_replicas"),
                             ({"target": 0}, "spec.autoscaling.target"),
                             ({"window_s": 1}, "spec.autoscaling.window_s"),
                             ({"targett": 1}, "spec.autoscaling")):
            status, doc = self.server.api("PUT", "/services/auto",
                                          {"model": "addsub", "autoscaling": spec},
                                          key=self.admin)
            self.assertEqual(status, 400, (spec, doc))
            self.assertIn(needle, doc["error"])
        self.cli("deploy", "--model", "addsub", "--name", "auto", "--max-replicas", "3",
                 "--target", "4", "--scale-window", "30s", "--timeout", "240s")
        service = self.service("auto")
        self.assertEqual(service["spec"]["autoscaling"],
                         {"metric": "concurrency", "target": 4, "min_replicas": 1,
                          "max_replicas": 3, "window_s": 30, "scale_down_delay_s": 0})
        poll("the autoscaler's first decision",
             lambda: self.service("auto").get("autoscaler"), timeout=30)
        self.assertEqual(self.service("auto")["autoscaler"]["desired_replicas"], 1)
        self.assertIn("Autoscaler:  1 replicas", self.cli("describe", "auto").stdout)
        res = self.cli("deploy", "--model", "addsub", "--name", "auto", "--max-replicas", "2")
        self.assertIn("scaled", res.stdout + res.stderr)
        after = self.service("auto")
        self.assertEqual(after["latest_revision"], service["latest_revision"])
        self.assertEqual(after["spec"]["autoscaling"]["max_replicas"], 2)
        self.assertIn("AutoscalingChanged", self.cli("events", "auto").stdout)
        self.cli("delete", "auto")
        # CPU in percent of the replica's limit, read from its process (the seed's rule).
        self.cli("deploy", "--model", "addsub", "--name", "cpuscaled", "--cpu", "0.5",
                 "--scale-metric", "cpu", "--target", "80", "--max-replicas", "2",
                 "--timeout", "240s")
        for _ in range(20):
            self.assertEqual(self.infer_addsub(service="cpuscaled")[0], 200)
        poll("a CPU reading", lambda: re.search(
            r"^cpu \d+\.\d over", self.service("cpuscaled").get("autoscaler", {}).get(
                "reason", "")), timeout=30)
        self.cli("delete", "cpuscaled")
        poll("auto to be deleted",
             lambda: self.server.api("GET", "/services/auto", key=self.admin)[0] == 404)

    def test_05f_the_autoscaler_follows_real_load(self):
        # 8 clients calling without pause keep several requests in flight at the gateway;
        # with a target of 1 the service grows to its maximum, and shrinks back once they stop.
        self.cli("deploy", "--model", "addsub", "--name", "elastic", "--max-replicas", "3",
                 "--target", "1", "--scale-window", "6s", "--timeout", "240s")
        stop = threading.Event()

        def client():
            while not stop.is_set():
                self.infer_addsub(service="elastic")

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            poll("elastic to grow to 3 ready replicas",
                 lambda: self.service("elastic")["ready_replicas"] == 3, timeout=90)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        events = self.cli("events", "elastic").stdout
        self.assertIn("Autoscaled", events)
        self.assertRegex(events, r"1 -> [23] replicas: (panic: )?concurrency")
        poll("elastic to shrink back to 1",
             lambda: self.service("elastic")["autoscaler"]["desired_replicas"] == 1, timeout=90)
        self.cli("delete", "elastic")
        poll("elastic to be deleted",
             lambda: self.server.api("GET", "/services/elastic", key=self.admin)[0] == 404)

    def test_05g_scale_to_zero_and_back_with_no_failed_request(self):
        # With --min-replicas 0 the service's last replica goes once it has had no request for
        # the window and the grace; requests that come then are held by the gateway while a
        # replica starts, and all of them are answered.
        self.cli("deploy", "--model", "addsub", "--name", "napper", "--min-replicas", "0",
                 "--max-replicas", "2", "--scale-window", "6s", "--scale-to-zero-after", "2s",
                 "--cold-start-timeout", "90s", "--timeout", "240s")
        spec = self.service("napper")["spec"]["autoscaling"]
        self.assertEqual((spec["min_replicas"], spec["scale_to_zero_after_s"],
                          spec["cold_start_timeout_s"]), (0, 2, 90))
        status, payload, headers = self.infer_addsub(service="napper")
        self.assertEqual(status, 200, payload)
        self.assertEqual(headers.get("Berth-Revision"), "1")
        poll("napper to scale to zero",
             lambda: (self.service("napper")["ready_replicas"],
                      self.service("napper")["replicas"]) == (0, 0), timeout=90)
        self.assertIn("scaled to zero", self.cli("events", "napper").stdout)
        self.assertIn("scaled to zero", self.cli("describe", "napper").stdout)
        status, index = self.server.request("POST", "/v2/repository/index", {},
                                            key=self.admin)[:2]
        entry = [e for e in json.loads(index) if e["name"] == "napper"][0]
        self.assertIn("scaled to zero", entry["reason"])
        # Six callers at once while nothing runs: every one is answered, by revision 1.
        results = []

        def call():
            results.append(self.infer_addsub(service="napper"))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(len(results), 6)
        for status, payload, headers in results:
            self.assertEqual(status, 200, payload)
            out = json.loads(payload)["outputs"]
            self.assertEqual(out[0]["data"], [i + 1 for i in range(16)])
            self.assertEqual(headers.get("Berth-Revision"), "1")
        metrics = self.server.request("GET", "/metrics")[1].decode()
        self.assertRegex(metrics, r'berth_cold_start_seconds_count\{service="napper"\} [1-9]')
        self.cli("delete", "napper")
        poll("napper to be deleted",
             lambda: self.server.api("GET", "/services/napper", key=self.admin)[0] == 404)

    def test_05h_canaries_promoted_by_their_gates_halted_by_them_and_steered_by_hand(self):
        versioned = os.path.join(FIXTURES, "versioned")
        for version in (1, 2):
            self.cli("models", "upload", os.path.join(versioned, str(version), "model.onnx"),
                     "--name", "steady")
        self.cli("models", "upload", os.path.join(FIXTURES, "flaky", "1", "model.onnx"),
                 "--name", "flaky")
        self.cli("deploy", "--model", "steady", "--model-version", "1", "--name", "canaried",
                 "--replicas", "2", "--timeout", "240s")

        def call(x=0.0):
            body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                "data": [x] * 4}]}
            status, payload, headers = self.server.request(
                "POST", "/v2/models/canaried/infer", body, key=self.admin)
            y = json.loads(payload)["outputs"][0]["data"][0] if status == 200 else None
            return status, y, headers.get("Berth-Revision")

        class Traffic:
            """Callers in the background for as long as a phase lasts: what they were told."""

            def __init__(self, make_x=lambda i: 0.0):
                self.seen, self.stop = [], threading.Event()
                self.threads = [threading.Thread(target=self.run, args=(make_x,))
                                for _ in range(2)]
                for t in self.threads:
                    t.start()

            def run(self, make_x):
                i = 0
                while not self.stop.is_set():
                    self.seen.append((make_x(i),) + call(make_x(i)))
                    i += 1

            def end(self):
                self.stop.set()
                for t in self.threads:
                    t.join(timeout=60)
                return self.seen

        def phase():
            return self.service("canaried").get("rollout_status", {}).get("phase")

        # 1. A canary that keeps its gates: 50% for one 5-second step, then promoted; no
        # caller sees an error, and both revisions answer meanwhile.
        traffic = Traffic()
        out = self.cli("deploy", "--model", "steady", "--model-version", "2", "--name",
                       "canaried", "--canary-steps", "50", "--canary-interval", "5s",
                       "--max-error-rate", "1%", "--min-requests", "10").stdout
        self.assertIn("canary revision 2 takes 50% of the traffic", out)
        try:
            poll("the canary to be promoted", lambda: phase() == "promoted", timeout=90)
        finally:
            seen = traffic.end()
        self.assertEqual([s for s in seen if s[1] != 200], [])
        self.assertEqual({(y, rev) for _, _, y, rev in seen} - {(1.0, "1"), (2.0, "2")}, set())
        self.assertEqual({rev for _, _, _, rev in seen}, {"1", "2"})
        self.assertEqual(self.service("canaried")["current_revision"], 2)
        poll("revision 2 to take everything", lambda: call()[2] == "2", timeout=30)
        self.assertIn("gates passed over", self.cli("events", "canaried").stdout)
        rollout = self.server.api("GET", "/services/canaried/rollout", key=self.admin)[1]
        self.assertEqual((rollout["revision"], rollout["weight"], rollout["last_check"]["passed"]),
                         (2, 100, True))

        # 2. A canary that fails on a tenth of its inputs is halted by its error-rate gate at
        # the end of its first interval; the stable revision keeps serving.
        traffic = Traffic(make_x=lambda i: 100.0 if i % 10 == 0 else 0.0)
        self.cli("deploy", "--model", "flaky", "--name", "canaried", "--canary-steps", "50",
                 "--canary-interval", "5s", "--max-error-rate", "1%", "--min-requests", "10")
        try:
            poll("the failing canary to be halted", lambda: phase() == "halted", timeout=90)
        finally:
            traffic.end()
        service = self.service("canaried")
        self.assertEqual((service["current_revision"], service["latest_revision"]), (2, 3))
        self.assertIn("canary halted: error rate", service["rollout_status"]["message"])
        revisions = self.server.api("GET", "/services/canaried/revisions", key=self.admin)[1]
        failed = [r for r in revisions["items"] if r["number"] == 3][0]
        self.assertEqual(failed["status"], "Failed")
        self.assertIn("canary halted: error rate", failed["reason"])
        for _ in range(10):
            self.assertEqual(call(100.0), (200, 102.0, "2"))
        self.assertIn("canary halted", self.cli("events", "canaried").stdout)

        # 3. A manual canary (one step, no interval) with A/B by header: set by hand, then
        # aborted.
        self.cli("deploy", "--model", "steady", "--model-version", "1", "--name", "canaried",
                 "--canary", "20", "--route-header", "X-Variant=b")
        self.assertEqual(phase(), "waiting")
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0] * 4}]}
        for _ in range(10):
            status, _, headers = self.server.request("POST", "/v2/models/canaried/infer", body,
                                                     key=self.admin, headers={"X-Variant": "b"})
            self.assertEqual((status, headers.get("Berth-Revision")), (200, "4"))
        status = self.cli("rollout", "status", "canaried").stdout
        self.assertIn("Canary:      revision 4 (20%)", status)
        self.assertIn("each on berth rollout promote", status)
        res = self.cli("rollout", "set", "canaried", "--weights", "2=50,3=50", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("revision 3 takes no part in this rollout", res.stderr)
        self.cli("rollout", "set", "canaried", "--weights", "2=0,4=100")
        poll("revision 4 to take everything", lambda: all(call()[2] == "4" for _ in range(5)),
             timeout=30)
        self.assertEqual(phase(), "paused")
        self.assertIn("aborted", self.cli("rollout", "abort", "canaried").stdout +
                      self.cli("rollout", "status", "canaried").stdout)
        poll("the abort to take effect", lambda: phase() == "aborted", timeout=30)
        poll("revision 2 to take everything again",
             lambda: all(call()[2] == "2" for _ in range(5)), timeout=30)
        # 4. Shadow traffic: every request copied to a canary that callers never reach; its
        # answers are counted in its own figures only.
        self.cli("deploy", "--model", "steady", "--model-version", "2", "--name", "canaried",
                 "--canary", "1", "--shadow", "100")
        self.cli("rollout", "set", "canaried", "--weights", "2=100,5=0")
        for _ in range(20):
            self.assertEqual(call(), (200, 2.0, "2"))

        def shadowed():
            series = self.server.api("GET", "/services/canaried/metrics?revision=5",
                                     key=self.admin)[1]
            return sum(p["requests"] for p in series["points"])

        poll("the shadow copies to be counted", lambda: shadowed() >= 15, timeout=30)
        metrics = self.server.request("GET", "/metrics")[1].decode()
        self.assertRegex(metrics,
                         r'berth_gateway_shadow_requests_total\{outcome="sent"\} [1-9]')
        self.cli("rollout", "abort", "canaried")
        poll("the shadow rollout to end", lambda: phase() == "aborted", timeout=30)
        # The same deploy again is a new try of the aborted spec (revision 6), not "unchanged";
        # scaling alone makes no revision.
        res = self.cli("deploy", "--model", "steady", "--model-version", "2", "--name",
                       "canaried", "--canary", "1", "--shadow", "100")
        self.assertIn("revision 6 created", res.stdout + res.stderr)
        self.cli("rollout", "abort", "canaried")
        poll("the retried rollout to end", lambda: phase() == "aborted", timeout=30)
        self.cli("scale", "canaried", "--replicas", "3")
        self.assertEqual(self.service("canaried")["latest_revision"], 6)
        status, doc = self.server.api("POST", "/services/canaried/rollout/promote", {},
                                      key=self.admin)
        self.assertEqual(status, 409, doc)
        self.assertIn("no rollout in progress", doc["error"])
        status, doc = self.server.api("PUT", "/services/canaried", {
            "model": "steady", "rollout": {"steps": [50, 40]}}, key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("spec.rollout.steps", doc["error"])
        self.cli("delete", "canaried")
        poll("canaried to be deleted",
             lambda: self.server.api("GET", "/services/canaried", key=self.admin)[0] == 404)

    def test_05c_model_versions_never_move_a_service_silently(self):
        versioned = os.path.join(FIXTURES, "versioned")

        def upload(version):
            return self.cli("models", "upload", os.path.join(versioned, str(version), "model.onnx"),
                            "--name", "plus").stdout

        def plus(service="plus"):
            body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                "data": [0, 0, 0, 0]}]}
            status, payload, _ = self.server.request("POST", "/v2/models/%s/infer" % service,
                                                     body, key=self.admin)
            self.assertEqual(status, 200, payload)
            return json.loads(payload)["outputs"][0]["data"][0]  # y = x + the model's version

        self.assertIn("model plus version 1", upload(1))
        self.cli("deploy", "--model", "plus", "--name", "plus", "--timeout", "240s")
        self.assertEqual(plus(), 1)
        # Another upload under the name is version 2; the service keeps version 1.
        out = upload(2)
        self.assertIn("model plus version 2", out)
        self.assertIn("services keep the version they serve", out)
        self.assertIn("has the same content", upload(2))  # no version 3 for the same bytes
        service = self.service("plus")
        self.assertEqual((service["model_version"], service["latest_revision"]), (1, 1))
        self.assertEqual(plus(), 1)
        status, doc = self.server.api("GET", "/models/plus", key=self.admin)
        self.assertEqual([(v["version"], v["used_by"]) for v in doc["versions"]],
                         [(1, ["plus"]), (2, [])])
        described = self.cli("models", "describe", "plus").stdout
        self.assertRegex(described, r"\n\s+1\s+\w+\s+.*plus\n")
        # A version in use cannot be deleted; the answer names the service.
        res = self.cli("models", "delete", "plus", "--version", "1", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("plus", res.stderr)
        self.assertEqual(self.server.api("DELETE", "/models/plus/versions/x",
                                         key=self.admin)[0], 400)
        # Naming the version moves the service; a patch that names none keeps it.
        self.cli("deploy", "--model", "plus", "--name", "plus", "--model-version", "2",
                 "--timeout", "240s")
        self.assertEqual((self.service("plus")["model_version"], plus()), (2, 2))
        status, doc = self.server.api("PATCH", "/services/plus", {"replicas": 2}, key=self.admin)
        self.assertEqual((status, doc["change"], doc["model_version"]), (200, "scaled", 2), doc)
        status, doc = self.server.api("PATCH", "/services/plus", {"model_version": 9},
                                      key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("has no version 9 (it has 1, 2)", doc["error"])
        # Deploying a file serves the version that holds it.
        self.cli("deploy", os.path.join(versioned, "3", "model.onnx"), "--model", "plus",
                 "--name", "plus", "--timeout", "240s")
        self.assertEqual((self.service("plus")["model_version"], plus()), (3, 3))
        # diff says what changed between two revisions, field by field.
        diff = self.cli("diff", "plus", "1", "3").stdout
        self.assertRegex(diff, r"model_version\s+1\s+3")
        self.assertNotIn("replicas", diff)  # the replica count is no part of a revision
        doc = json.loads(self.cli("diff", "plus", "1", "3", "-o", "json").stdout)
        self.assertIn({"path": "model_version", "from": 1, "to": 3}, doc["changes"])
        self.assertIn("same spec", self.cli("diff", "plus", "2", "2").stdout)
        res = self.cli("diff", "plus", "1", "99", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("no revision 99", res.stderr)
        # A rollback restores the version the revision served.
        self.cli("rollback", "plus", "--to-revision", "1")
        poll("revision 1's spec to serve",
             lambda: self.service("plus")["status"] == "Ready"
             and self.service("plus")["model_version"] == 1, timeout=180)
        self.assertEqual(plus(), 1)
        # Now version 2 is unused and may go; rolling back to a revision that served it then
        # says why it cannot.
        self.cli("models", "delete", "plus", "--version", "2")
        status, doc = self.server.api("POST", "/services/plus/rollback", {"revision": 2},
                                      key=self.admin)
        self.assertEqual(status, 400, doc)
        self.assertIn("version 2 of model 'plus'", doc["error"])
        self.cli("delete", "plus")
        poll("plus to be deleted",
             lambda: self.server.api("GET", "/services/plus", key=self.admin)[0] == 404)
        self.assertIn("every version", self.cli("models", "delete", "plus").stdout)

    def test_06_a_killed_replica_is_replaced(self):
        status, doc = self.server.api("GET", "/services/addsub/replicas", key=self.admin)
        ready = [r for r in doc["items"] if r["state"] == "Ready"]
        self.assertEqual(len(ready), 1, doc)
        os.kill(ready[0]["pid"], signal.SIGKILL)

        def replaced():
            _, d = self.server.api("GET", "/services/addsub/replicas", key=self.admin)
            r = [x for x in d["items"] if x["id"] == ready[0]["id"]]
            return r and r[0]["state"] == "Ready" and r[0]["pid"] != ready[0]["pid"] and r[0]
        again = poll("the replica to come back", replaced)
        self.assertEqual(again["restarts"], 1)
        self.assertEqual(self.infer_addsub()[0], 200)
        self.assertIn("ReplicaCrashed", self.cli("events", "addsub").stdout)

    def test_06b_cpu_and_memory_limits_reach_the_worker_cgroup(self):
        status, info = self.server.api("GET", "/server", key=self.admin)
        self.assertEqual(status, 200)
        if info["resource_limits"] not in ("cgroup v1", "cgroup v2"):
            self.skipTest("this machine does not let the server set limits: " +
                          info["resource_limits"])
        self.cli("deploy", os.path.join(FIXTURES, "add_sub", "1", "model.onnx"), "--name",
                 "limited", "--cpu", "0.5", "--memory", "1Gi", "--timeout", "120s")
        status, doc = self.server.api("GET", "/services/limited/replicas", key=self.admin)
        pid = [r for r in doc["items"] if r["state"] == "Ready"][0]["pid"]
        with open("/proc/%d/cgroup" % pid) as f:
            groups = dict((line.split(":")[1], line.split(":")[2].strip())
                          for line in f.read().splitlines())
        if info["resource_limits"] == "cgroup v2":
            base = "/sys/fs/cgroup" + groups[""]
            with open(base + "/cpu.max") as f:
                self.assertEqual(f.read().split(), ["50000", "100000"])
            with open(base + "/memory.max") as f:
                self.assertEqual(int(f.read()), 1 << 30)
        else:
            cpu = "/sys/fs/cgroup/cpu" + next(v for k, v in groups.items() if "cpu" in k.split(","))
            memory = "/sys/fs/cgroup/memory" + groups["memory"]
            self.assertIn("replica-limited-", cpu)
            with open(cpu + "/cpu.cfs_quota_us") as f:
                self.assertEqual(int(f.read()), 50000)
            with open(memory + "/memory.limit_in_bytes") as f:
                self.assertEqual(int(f.read()), 1 << 30)
        self.cli("delete", "limited")
        poll("limited to be deleted",
             lambda: self.server.api("GET", "/services/limited", key=self.admin)[0] == 404)

    def test_07_the_server_survives_kill_9_and_adopts_its_replicas(self):
        def workers():
            out = subprocess.run(["pgrep", "-f", "--", "--data-dir-owner " + self.server.data_dir],
                                 capture_output=True, text=True).stdout.split()
            return sorted(int(p) for p in out)
        before = workers()
        self.assertGreaterEqual(len(before), 2)  # demo and addsub
        self.assert_no_unexpected_moves()  # this process's log goes with it
        self.server.proc.kill()  # SIGKILL: no clean-up at all
        self.server.proc.wait(timeout=30)
        # What a kill in the middle of an upload or a registration leaves behind.
        data = self.server.data_dir
        models = os.path.join(data, "models")
        def contents_now():  # model name -> its content directories that hold files
            found = {}
            for name in os.listdir(models):
                dirs = [d for d in os.listdir(os.path.join(models, name))
                        if os.listdir(os.path.join(models, name, d))]
                if dirs:
                    found[name] = sorted(dirs)
            return found
        contents = contents_now()
        self.assertTrue(contents)
        some_model = sorted(contents)[0]
        debris = [os.path.join(data, "tmp", "upload-crashed0123456"),
                  os.path.join(models, some_model, "00112233deadbeef", "model.onnx"),
                  os.path.join(models, "never-registered", "0011223344556677", "model.onnx")]
        for path in debris:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(b"partial")
        self.server.start()
        poll("addsub to serve again", lambda: self.infer_addsub()[0] == 200, timeout=60)
        self.assertEqual(workers(), before)  # the same processes: adopted, none duplicated
        self.assertIn("Adopted", self.cli("events", "addsub").stdout)
        self.assertEqual(self.service("demo")["status"], "Ready")
        for path in debris:
            self.assertFalse(os.path.exists(path), path)
        # Every registered model keeps its content.
        self.assertEqual(contents_now(), contents)

    def test_08_every_state_change_was_one_the_controller_has(self):
        self.assert_no_unexpected_moves()

    def test_09_a_clean_restart_and_a_lost_admin_key(self):
        # One server per data directory: a second one is refused, naming the first.
        second = subprocess.run(
            [BERTH, "server", "--data-dir", self.server.data_dir, "--http-port",
             str(free_port()), "--grpc-port", str(free_port())],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(second.returncode, 1, second.stdout + second.stderr)
        self.assertIn("uses the data directory", second.stdout + second.stderr)
        # A directory that holds no server's data is named as such.
        res = subprocess.run([BERTH, "admin", "reset-key", "--data-dir",
                              os.path.join(self.tmp, "no-such-dir")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("no berth data directory", res.stderr)
        # While the server runs, the key cannot be reset behind its back.
        res = subprocess.run([BERTH, "admin", "reset-key", "--data-dir", self.server.data_dir],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("stop it first", res.stderr)
        self.assertEqual(res.stdout, "")
        # A clean stop: the replicas stop with the server and start again with it, none "Lost".
        self.server.stop()
        res = subprocess.run([BERTH, "admin", "reset-key", "--data-dir", self.server.data_dir],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        new_admin = res.stdout.strip()
        self.assertRegex(new_admin, r"^brth_[A-Za-z0-9]{28}$")
        self.assertIn("revoked admin key admin", res.stderr)
        self.assertNotIn(new_admin, res.stderr)
        self.server.start()
        self.assertNotIn(new_admin, self.server.log())
        status, _ = self.server.api("GET", "/server", key=self.admin)
        self.assertEqual(status, 401)
        old_admin, type(self).admin = self.admin, new_admin
        self.env["BERTH_API_KEY"] = new_admin
        poll("addsub to serve again", lambda: self.infer_addsub()[0] == 200, timeout=120)
        events = self.cli("events", "addsub").stdout
        self.assertIn("Restarting", events)
        self.assertNotIn("Lost", events)
        self.assertNotEqual(old_admin, new_admin)

    def assert_no_unexpected_moves(self):
        """Everything so far (crashes, failed revisions, deletes, adoption) moved replicas and
        revisions only along the controller's transition table."""
        status, payload, _ = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        line = [l for l in payload.decode().splitlines()
                if l.startswith("berth_controller_unexpected_transitions_total")]
        self.assertEqual(len(line), 1, line)
        self.assertEqual(float(line[0].split()[-1]), 0.0, line)
        self.assertNotIn("unexpected move", self.server.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
