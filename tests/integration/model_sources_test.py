#!/usr/bin/python3
"""Where `berth server` takes models from, end to end with real peers: an S3 API server
(s3rver, SigV4 credentials from the environment), a local HTTP server (refused: loopback is
internal unless --fetch-allow says otherwise), and file:// inside and outside --allow-file-uris.
A model fetched from S3 through the CLI deploys and answers through the gateway."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_test import BERTH, FIXTURES, ROOT, Server, free_port, poll  # noqa: E402

S3RVER = os.path.join(ROOT, ".deps", "s3rver", "node_modules", "s3rver", "bin", "s3rver.js")
ADD_SUB = os.path.join(FIXTURES, "add_sub", "1", "model.onnx")
SECRET = "s3-secret-never-logged"


class ModelSourcesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-sources-test-")
        # s3rver with a bucket "models" holding add_sub.onnx, uploaded with curl's SigV4.
        s3_port = free_port()
        cls.s3 = subprocess.Popen(
            ["node", S3RVER, "--directory", os.path.join(cls.tmp, "s3"), "--address",
             "127.0.0.1", "--port", str(s3_port), "--configure-bucket", "models"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.s3_endpoint = "http://127.0.0.1:%d" % s3_port
        poll("s3rver to accept an upload", lambda: subprocess.run(
            ["curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3", "-u", "S3RVER:S3RVER",
             "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", ADD_SUB,
             cls.s3_endpoint + "/models/add_sub.onnx"], capture_output=True).returncode == 0,
             timeout=60)
        # A plain HTTP server on loopback.
        models_dir = os.path.join(cls.tmp, "www")
        os.makedirs(models_dir)
        shutil.copy(ADD_SUB, os.path.join(models_dir, "add_sub.onnx"))
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=models_dir)
        cls.www = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        cls.www.RequestHandlerClass.log_message = lambda *a: None
        threading.Thread(target=cls.www.serve_forever, daemon=True).start()
        # The server: S3 endpoint and credentials, one directory open to file:// URIs.
        cls.allowed = os.path.join(cls.tmp, "allowed")
        os.makedirs(cls.allowed)
        shutil.copy(ADD_SUB, os.path.join(cls.allowed, "add_sub.onnx"))
        os.symlink("/etc/hostname", os.path.join(cls.allowed, "escape.onnx"))
        os.environ["BERTH_S3_ACCESS_KEY"] = "S3RVER"
        os.environ["BERTH_S3_SECRET_KEY"] = SECRET
        cls.server = Server(os.path.join(cls.tmp, "data"),
                            ["--s3-endpoint", cls.s3_endpoint, "--allow-file-uris", cls.allowed])
        cls.server.start()
        cls.key = poll("the admin key", lambda: re.search(r"(brth_[A-Za-z0-9]{28})",
                                                          cls.server.log()), timeout=30).group(1)
        cls.env = dict(os.environ, BERTH_SERVER=cls.server.url(""), BERTH_API_KEY=cls.key,
                       XDG_CONFIG_HOME=os.path.join(cls.tmp, "config"))

    @classmethod
    def tearDownClass(cls):
        cls.www.shutdown()
        cls.server.stop()
        cls.s3.terminate()
        cls.s3.wait(timeout=30)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cli(self, *args):
        return subprocess.run([BERTH, *args], capture_output=True, text=True, env=self.env,
                              timeout=300)

    def add(self, name, uri):
        return self.server.api("POST", "/models", {"name": name, "uri": uri}, key=self.key)

    def test_s3_model_through_the_cli_deploys_and_answers(self):
        res = self.cli("models", "add", "s3://models/add_sub.onnx", "--name", "froms3")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        status, model = self.server.api("GET", "/models/froms3", key=self.key)
        self.assertEqual(status, 200)
        self.assertEqual(model["format"], "onnx")
        self.assertEqual(model["source"], "s3://models/add_sub.onnx")
        res = self.cli("deploy", "--model", "froms3", "--name", "froms3", "--timeout", "120s")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                            "data": list(range(16))},
                           {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16],
                            "data": [1] * 16}]}
        status, payload, _ = self.server.request("POST", "/v2/models/froms3/infer", body,
                                                 key=self.key)
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["outputs"][0]["data"], [x + 1 for x in range(16)])
        self.assertNotIn(SECRET, self.server.log())

    def test_the_apply_examples_deploy_as_written(self):
        # docs/api.md's two formats, from examples/: berth's Service and KServe's
        # InferenceService, both fetching the model from the S3 endpoint.
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                            "data": list(range(16))},
                           {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16],
                            "data": [1] * 16}]}
        for example, service, v2_name in (("addsub-service.yaml", "addsub-example",
                                           "add_sub_example"),
                                          ("addsub-inferenceservice.yaml", "addsub-kserve",
                                           "addsub-kserve")):
            res = self.cli("apply", "-f", os.path.join(ROOT, "examples", example),
                           "--timeout", "120s")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            status, payload, _ = self.server.request("POST", "/v2/models/%s/infer" % v2_name,
                                                     body, key=self.key)
            self.assertEqual(status, 200, payload)
            self.assertEqual(json.loads(payload)["outputs"][0]["data"],
                             [x + 1 for x in range(16)])
        status, berth = self.server.api("GET", "/services/addsub-example", key=self.key)
        self.assertEqual((berth["replicas"], berth["spec"]["model_name"],
                          berth["spec"]["resources"]["memory"],
                          berth["spec"]["batching"]["max_queue_delay_us"]),
                         (2, "add_sub_example", "512Mi", 500), berth)
        status, kserve = self.server.api("GET", "/services/addsub-kserve", key=self.key)
        self.assertEqual((kserve["replicas"], kserve["spec"]["resources"]["cpu"],
                          kserve["spec"]["batching"]),
                         (1, 1, {"max_batch_size": 4, "max_queue_delay_us": 2000}), kserve)
        # Applying the same file again changes nothing.
        res = self.cli("apply", "-f", os.path.join(ROOT, "examples", "addsub-service.yaml"))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("unchanged", res.stdout + res.stderr)
        for service in ("addsub-example", "addsub-kserve"):
            self.assertEqual(self.cli("delete", service).returncode, 0)

    def test_other_content_under_a_name_is_a_new_version_and_its_file_goes_with_it(self):
        status, first = self.add("swap", "file://" + os.path.join(self.allowed, "add_sub.onnx"))
        self.assertEqual((status, first["version"]), (201, 1), first)
        res = self.cli("deploy", "--model", "swap", "--name", "swap", "--timeout", "120s")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        models_dir = os.path.join(self.tmp, "data", "models", "swap")
        # Other content under the same name is version 2, beside version 1's file.
        shutil.copy(os.path.join(FIXTURES, "tiny_cnn", "1", "model.onnx"),
                    os.path.join(self.allowed, "tiny_cnn.onnx"))
        status, second = self.add("swap", "file://" + os.path.join(self.allowed, "tiny_cnn.onnx"))
        self.assertEqual((status, second["version"]), (201, 2), second)
        self.assertEqual(sorted(os.listdir(models_dir)),
                         sorted([first["sha256"][:16], second["sha256"][:16]]))
        # The service still serves version 1; deleting the unused version 2 removes its file.
        body = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16],
                            "data": [1] * 16},
                           {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16],
                            "data": [1] * 16}]}
        status, payload, _ = self.server.request("POST", "/v2/models/swap/infer", body,
                                                 key=self.key)
        self.assertEqual(status, 200, payload)
        status, _ = self.server.api("DELETE", "/models/swap/versions/2", key=self.key)
        self.assertEqual(status, 204)
        self.assertEqual(os.listdir(models_dir), [first["sha256"][:16]])
        status, payload, _ = self.server.request("POST", "/v2/models/swap/infer", body,
                                                 key=self.key)
        self.assertEqual(status, 200, payload)

    def test_missing_s3_object_names_the_key(self):
        status, doc = self.add("nothere", "s3://models/missing.onnx")
        self.assertEqual(status, 400, doc)
        self.assertIn("s3://models/missing.onnx", doc["error"])
        self.assertIn("404", doc["error"])

    def test_http_to_loopback_is_refused_without_fetch_allow(self):
        status, doc = self.add("fromweb", "http://127.0.0.1:%d/add_sub.onnx" % self.www.server_port)
        self.assertEqual(status, 400, doc)
        self.assertIn("127.0.0.1 is a loopback address", doc["error"])
        self.assertIn("--fetch-allow", doc["error"])
        status, doc = self.add("metadata", "http://169.254.169.254/latest/meta-data/")
        self.assertEqual(status, 400, doc)
        self.assertIn("link-local", doc["error"])
        self.assertEqual(self.server.api("GET", "/models/fromweb", key=self.key)[0], 404)

    def test_file_uris_only_inside_the_allowed_directory(self):
        status, doc = self.add("fromfile", "file://" + os.path.join(self.allowed, "add_sub.onnx"))
        self.assertEqual(status, 201, doc)
        for uri in ("file:///etc/passwd", "file://" + self.allowed + "/../allowed/../../../etc/passwd",
                    "file://" + self.allowed + "/../../../no/such/file",
                    "file://" + os.path.join(self.allowed, "escape.onnx")):
            status, doc = self.add("outside", uri)
            self.assertEqual(status, 403, (uri, doc))
            self.assertIn("outside the directories this server reads models from", doc["error"])
        self.assertEqual(self.server.api("GET", "/models/outside", key=self.key)[0], 404)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)
