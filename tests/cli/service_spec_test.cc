#include "cli/service_spec.h"

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

// The error message of parsing `yaml` as file "svc.yaml" (empty when it parses).
std::string ErrorOf(const std::string& yaml) {
  auto parsed = ParseServiceDocuments(yaml, "svc.yaml");
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ParseServiceDocumentsTest, BerthServiceToApiSpec) {
  auto parsed = ParseServiceDocuments(R"(
kind: Service
metadata:
  name: digits-svc
spec:
  model: digits
  replicas: 2
  resources: {cpu: 500m, memory: 2Gi}
  batching: {max_batch_size: 32, max_queue_delay_us: 500}
  image: {enabled: true, labels: ["0", "1"], top_k: 5}
)",
                                      "svc.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  const ServiceDocument& document = (*parsed)[0];
  EXPECT_EQ(document.kind, "Service");
  EXPECT_EQ(document.name, "digits-svc");
  EXPECT_FALSE(document.model_to_add.has_value());
  EXPECT_EQ(document.spec, nlohmann::json::parse(R"({
    "name": "digits-svc", "model": "digits", "replicas": 2,
    "resources": {"cpu": 0.5, "memory": "2Gi"},
    "batching": {"max_batch_size": 32, "max_queue_delay_us": 500},
    "image": {"enabled": true, "labels": ["0", "1"], "top_k": 5}})"));
}

TEST(ParseServiceDocumentsTest, BerthAutoscaling) {
  auto parsed = ParseServiceDocuments(R"(
kind: Service
metadata: {name: auto}
spec:
  model: m
  autoscaling: {target: 3, min_replicas: 1, max_replicas: 4, window_s: 30}
)",
                                      "auto.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].spec["autoscaling"], nlohmann::json::parse(R"({
    "target": 3.0, "min_replicas": 1, "max_replicas": 4, "window_s": 30})"));
  auto bad = ParseServiceDocuments(
      "kind: Service\nmetadata: {name: auto}\nspec:\n  model: m\n  autoscaling: {target: -1}\n",
      "auto.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spec.autoscaling.target: must be a number above 0"),
            std::string_view::npos)
      << bad.status();
}

TEST(ParseServiceDocumentsTest, FlatFormAndWholeCpus) {
  auto parsed = ParseServiceDocuments("name: demo\nmodel: digits\nresources:\n  cpu: 2\n", "f");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].spec, nlohmann::json::parse(R"({"name": "demo", "model": "digits",
                                      "resources": {"cpu": 2}})"));
}

TEST(ParseServiceDocumentsTest, ModelByUriIsAddedFirst) {
  auto parsed = ParseServiceDocuments(R"(
metadata: {name: resnet}
spec:
  model: {name: resnet50, uri: "s3://models/resnet50.onnx"}
)",
                                      "f");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ServiceDocument& document = (*parsed)[0];
  ASSERT_TRUE(document.model_to_add.has_value());
  EXPECT_EQ(document.model_to_add->name, "resnet50");
  EXPECT_EQ(document.model_to_add->uri, "s3://models/resnet50.onnx");
  EXPECT_EQ(document.spec["model"], "resnet50");
}

TEST(ParseServiceDocumentsTest, KServeInferenceService) {
  auto parsed = ParseServiceDocuments(R"(
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: mnist
  namespace: default
spec:
  predictor:
    minReplicas: 3
    maxReplicas: 5
    batcher: {maxBatchSize: 16, maxLatency: 2}
    model:
      modelFormat: {name: onnx}
      storageUri: https://example.com/mnist.onnx
      resources:
        requests: {cpu: 100m, memory: 1Gi}
        limits: {cpu: "1", memory: 2Gi}
)",
                                      "isvc.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ServiceDocument& document = (*parsed)[0];
  EXPECT_EQ(document.kind, "InferenceService");
  EXPECT_EQ(document.name, "mnist");
  ASSERT_TRUE(document.model_to_add.has_value());
  EXPECT_EQ(document.model_to_add->name, "mnist");
  EXPECT_EQ(document.model_to_add->uri, "https://example.com/mnist.onnx");
  EXPECT_EQ(document.spec, nlohmann::json::parse(R"({
    "name": "mnist", "model": "mnist", "replicas": 3,
    "autoscaling": {"min_replicas": 3, "max_replicas": 5},
    "resources": {"cpu": 1, "memory": "2Gi"},
    "batching": {"max_batch_size": 16, "max_queue_delay_us": 2000}})"));
  // KServe's scaleMetric and scaleTarget set the autoscaler's metric and target.
  auto scaled = ParseServiceDocuments(R"(
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: busy}
spec:
  predictor:
    scaleMetric: concurrency
    scaleTarget: 4
    model: {modelFormat: {name: onnx}, storageUri: "s3://models/busy.onnx"}
)",
                                      "busy.yaml");
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ((*scaled)[0].spec["autoscaling"],
            nlohmann::json::parse(R"({"metric": "concurrency", "target": 4.0})"));
  // minReplicas 0 is KServe's scale to zero: autoscaling from zero, not a stopped service.
  auto serverless = ParseServiceDocuments(R"(
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: idle}
spec:
  predictor:
    minReplicas: 0
    model: {modelFormat: {name: onnx}, storageUri: "s3://models/idle.onnx"}
)",
                                          "idle.yaml");
  ASSERT_TRUE(serverless.ok()) << serverless.status();
  EXPECT_FALSE((*serverless)[0].spec.contains("replicas")) << (*serverless)[0].spec;
  EXPECT_EQ((*serverless)[0].spec["autoscaling"],
            nlohmann::json::parse(R"({"min_replicas": 0})"));
}

TEST(ParseServiceDocumentsTest, KServeFrameworkKeyAndRequestsOnly) {
  auto parsed = ParseServiceDocuments(R"(
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: legacy}
spec:
  predictor:
    onnx:
      storageUri: file:///models/legacy.onnx
      resources: {requests: {memory: 512Mi}}
)",
                                      "f");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].spec, nlohmann::json::parse(R"({
    "name": "legacy", "model": "legacy", "resources": {"memory": "512Mi"}})"));
}

TEST(ParseServiceDocumentsTest, MultipleDocumentsInOrder) {
  auto parsed = ParseServiceDocuments(R"(---
name: first
model: a
---
---
name: second
model: b
)",
                                      "f");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].name, "first");
  EXPECT_EQ((*parsed)[1].name, "second");
  EXPECT_EQ((*parsed)[1].line, 6);
}

TEST(ParseServiceDocumentsTest, ErrorsNameFileLineAndField) {
  EXPECT_EQ(ErrorOf("kind: Service\nmetadata: {name: demo}\nspec:\n  model: digits\n"
                    "  replicas: two\n"),
            "svc.yaml:5: spec.replicas: must be a whole number (got \"two\")");
  EXPECT_EQ(ErrorOf("metadata: {name: demo}\nspec:\n  model: d\n  replicas: -1\n"),
            "svc.yaml:4: spec.replicas: must be at least 0");
  EXPECT_EQ(ErrorOf("metadata: {name: demo}\nspec:\n  model: d\n  replica: 2\n"),
            "svc.yaml:4: spec.replica: unknown field; expected one of model, model_name, replicas, autoscaling, "
            "rollout, resources, batching, image, inputs, outputs");
  EXPECT_EQ(ErrorOf("metadata: {name: demo}\nspec:\n  model: d\n  resources:\n"
                    "    memory: 2GB\n"),
            "svc.yaml:5: spec.resources.memory: \"2GB\" is not a memory size: write it like "
            "512Mi, 2Gi or 1G (at least 1 byte)");
  EXPECT_EQ(ErrorOf("metadata: {name: demo}\nspec:\n  model: d\n  image: {enabled: maybe}\n"),
            "svc.yaml:4: spec.image.enabled: must be true or false (got \"maybe\")");
  EXPECT_EQ(ErrorOf("metadata: {name: Demo_1}\nspec: {model: d}\n"),
            "svc.yaml:1: metadata.name: \"Demo_1\" is not a valid name: use 1 to 63 lower-case "
            "letters, digits and '-', starting and ending with a letter or digit");
  EXPECT_NE(ErrorOf("metadata: {name: demo}\nspec: {replicas: 1}\n")
                .find("svc.yaml:2: spec.model: is required"),
            std::string::npos);
  EXPECT_NE(ErrorOf("kind: Deployment\nmetadata: {name: x}\n").find("svc.yaml:1: kind: berth"),
            std::string::npos);
  EXPECT_NE(ErrorOf("spec: {model: d}\n").find("metadata.name: is required"), std::string::npos);
}

TEST(ParseServiceDocumentsTest, KServeErrorsNameFields) {
  const std::string head =
      "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m}\n";
  EXPECT_EQ(ErrorOf(head + "spec:\n  predictor:\n    model:\n      storageUri: gs://b/m\n"),
            "svc.yaml:7: spec.predictor.model.storageUri: berth fetches file://, http://, "
            "https:// and s3:// URIs only");
  EXPECT_EQ(ErrorOf(head + "spec:\n  predictor:\n    minReplicas: 1.5\n    model:\n"
                           "      storageUri: s3://b/m\n"),
            "svc.yaml:6: spec.predictor.minReplicas: must be a whole number (got \"1.5\")");
  EXPECT_NE(ErrorOf(head + "spec:\n  predictor:\n    model:\n      modelFormat: {name: sklearn}\n"
                           "      storageUri: s3://b/m\n")
                .find("svc.yaml:7: spec.predictor.model.modelFormat.name: berth serves onnx"),
            std::string::npos);
  EXPECT_NE(ErrorOf(head + "spec:\n  predictor:\n    sklearn: {storageUri: s3://b/m}\n")
                .find("spec.predictor.model: is required"),
            std::string::npos);
  EXPECT_NE(ErrorOf("apiVersion: serving.kserve.io/v1alpha2\nkind: InferenceService\n")
                .find("svc.yaml:1: apiVersion: an InferenceService must have apiVersion "
                      "serving.kserve.io/v1beta1"),
            std::string::npos);
}

TEST(ParseServiceDocumentsTest, MalformedYamlNamesLineAndColumn) {
  const std::string error = ErrorOf("name: demo\nspec:\n  model: [unclosed\n");
  EXPECT_EQ(error.rfind("svc.yaml:", 0), 0u) << error;
  EXPECT_NE(error.find("malformed YAML"), std::string::npos) << error;
  EXPECT_NE(ErrorOf("").find("no documents"), std::string::npos);
  EXPECT_NE(ErrorOf("- a\n- b\n").find("document: must be a mapping"), std::string::npos);
}

TEST(BuildDeploySpecTest, OnlyWhatWasGiven) {
  EXPECT_EQ(*BuildDeploySpec("demo", {.model = "digits"}),
            nlohmann::json::parse(R"({"name": "demo", "model": "digits"})"));
  DeploySpecFlags flags{.model = "resnet",
                        .replicas = 2,
                        .cpu = "1",
                        .memory = "2Gi",
                        .max_batch_size = 32,
                        .max_queue_delay_us = 500,
                        .labels = std::vector<std::string>{"cat", "dog"}};
  EXPECT_EQ(*BuildDeploySpec("svc", flags), nlohmann::json::parse(R"({
    "name": "svc", "model": "resnet", "replicas": 2,
    "resources": {"cpu": 1, "memory": "2Gi"},
    "batching": {"max_batch_size": 32, "max_queue_delay_us": 500},
    "image": {"enabled": true, "labels": ["cat", "dog"]}})"));
  EXPECT_EQ((*BuildDeploySpec("svc", {.model = "m", .image = false}))["image"],
            nlohmann::json::parse(R"({"enabled": false})"));
}

TEST(BuildDeploySpecTest, AutoscalingFlags) {
  DeploySpecFlags flags{.model = "m",
                        .target = 2.5,
                        .min_replicas = 1,
                        .max_replicas = 6,
                        .scale_window = "2m",
                        .scale_down_delay = "30s"};
  EXPECT_EQ((*BuildDeploySpec("svc", flags))["autoscaling"], nlohmann::json::parse(R"({
    "target": 2.5, "min_replicas": 1, "max_replicas": 6, "window_s": 120,
    "scale_down_delay_s": 30})"));
  EXPECT_FALSE(BuildDeploySpec("svc", {.model = "m"})->contains("autoscaling"));
  EXPECT_EQ(BuildDeploySpec("s", {.model = "m", .scale_window = "soon"})
                .status()
                .message()
                .substr(0, 15),
            "--scale-window:");
  EXPECT_EQ(BuildDeploySpec("s", {.model = "m", .target = 0.0}).status().message(),
            "--target: must be above 0");
}

TEST(BuildDeploySpecTest, CanaryFlags) {
  DeploySpecFlags flags{.model = "m",
                        .canary_steps = "10,25%,50,100",
                        .canary_interval = "30s",
                        .max_error_rate = "1%",
                        .max_p99 = "250ms",
                        .min_requests = 40};
  EXPECT_EQ((*BuildDeploySpec("svc", flags))["rollout"], nlohmann::json::parse(R"({
    "steps": [10, 25, 50], "interval_s": 30, "max_error_rate": 0.01, "max_p99_ms": 250,
    "min_requests": 40})"));
  EXPECT_EQ((*BuildDeploySpec("svc", {.model = "m", .canary = 10}))["rollout"],
            nlohmann::json::parse(R"({"steps": [10], "interval_s": 0, "max_error_rate": null,
                                      "max_p99_ms": null})"));
  EXPECT_EQ((*BuildDeploySpec("svc", {.model = "m", .canary = 5, .canary_interval = "10s",
                                      .max_error_rate = "0.02"}))["rollout"]["max_error_rate"],
            0.02);
  EXPECT_NE(BuildDeploySpec("s", {.model = "m", .max_p99 = "250ms"})
                .status()
                .message()
                .find("give --canary PERCENT or --canary-steps too"),
            std::string::npos);
  EXPECT_EQ(BuildDeploySpec("s", {.model = "m", .canary_steps = "10,lots"}).status().message(),
            "--canary-steps: 'lots' is not a percent (e.g. --canary-steps 10,25,50)");
  EXPECT_FALSE(BuildDeploySpec("s", {.model = "m", .canary = 10, .canary_steps = "20"}).ok());
}

TEST(BuildDeploySpecTest, BadValuesNameTheFlag) {
  EXPECT_EQ(BuildDeploySpec("Bad", {.model = "m"}).status().message().substr(0, 7), "--name:");
  EXPECT_EQ(BuildDeploySpec("s", {.model = "m", .cpu = "lots"}).status().message().substr(0, 6),
            "--cpu:");
  EXPECT_EQ(BuildDeploySpec("s", {.model = "m", .memory = "2GB"}).status().message().substr(0, 9),
            "--memory:");
  EXPECT_EQ(BuildDeploySpec("s", {.model = "m", .replicas = -1}).status().message(),
            "--replicas: must be 0 or more");
}

TEST(ValidateNameTest, DnsLabels) {
  const std::vector<std::string> good = {"a", "demo", "resnet-50", "x1", std::string(63, 'a')};
  for (const std::string& name : good) EXPECT_TRUE(ValidateName(name, "--name").ok()) << name;
  const std::vector<std::string> bad = {"", "-a", "a-", "A", "a_b", "a.b", std::string(64, 'a')};
  for (const std::string& name : bad) EXPECT_FALSE(ValidateName(name, "--name").ok()) << name;
}

TEST(ParseLabelsTest, OneALineTrimmed) {
  EXPECT_EQ(ParseLabels("cat\r\ndog  \n\nbird\n\n"),
            (std::vector<std::string>{"cat", "dog", "", "bird"}));
  EXPECT_TRUE(ParseLabels("").empty());
}

TEST(IsModelUriTest, SchemesTheServerFetches) {
  for (const char* uri : {"file:///m.onnx", "http://h/m", "https://h/m", "s3://b/k"}) {
    EXPECT_TRUE(IsModelUri(uri)) << uri;
  }
  for (const char* other : {"model.onnx", "./s3://x", "gs://b/k", "s3://", "/abs/path"}) {
    EXPECT_FALSE(IsModelUri(other)) << other;
  }
}

}  // namespace
}  // namespace berth::cli

namespace berth::cli {
namespace {

TEST(ParseTensorFlagTest, NameTypeAndShape) {
  auto t = ParseTensorFlag("INPUT__0:FP32:-1x1x28x28");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, nlohmann::json::parse(
                    R"({"name": "INPUT__0", "datatype": "FP32", "shape": [-1, 1, 28, 28]})"));
  auto colon = ParseTensorFlag("serving:0:INT64:4");  // names may hold ':'
  ASSERT_TRUE(colon.ok()) << colon.status();
  EXPECT_EQ((*colon)["name"], "serving:0");
  EXPECT_EQ((*colon)["shape"], nlohmann::json::parse("[4]"));
  for (const char* bad : {"x", "x:FP32", ":FP32:4", "x:FP32:", "x:FP32:3x", "x:FP32:3xy"}) {
    EXPECT_FALSE(ParseTensorFlag(bad).ok()) << bad;
  }
}

TEST(ParseServiceDocumentsTest, DeclaredSignature) {
  auto parsed = ParseServiceDocuments(R"(
name: tscript
model: net
inputs: [{name: x, datatype: FP32, shape: [-1, 3, 8, 8]}]
outputs: [{name: y, datatype: FP32, shape: [-1, 10]}]
)",
                                      "svc.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].spec["inputs"], nlohmann::json::parse(
                                             R"([{"name": "x", "datatype": "FP32",
                                                  "shape": [-1, 3, 8, 8]}])"));
  EXPECT_EQ((*parsed)[0].spec["outputs"][0]["shape"], nlohmann::json::parse("[-1, 10]"));
  auto bad = ParseServiceDocuments("name: t\nmodel: m\ninputs: [{name: x, datatype: FP32, "
                                   "shape: [-2]}]\noutputs: []\n",
                                   "svc.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("inputs[0].shape"), std::string::npos) << bad.status();
}

TEST(DiffSpecsTest, EveryLeafThatDiffersWithItsPath) {
  const auto before = nlohmann::json::parse(R"({"model": "m", "model_version": 1, "replicas": 2,
      "batching": {"max_batch_size": 32}, "inputs": [{"name": "x", "shape": [-1, 4]}],
      "labels": ["a"]})");
  const auto after = nlohmann::json::parse(R"({"model": "m", "model_version": 2, "replicas": 2,
      "batching": {"max_batch_size": 8, "max_queue_delay_us": 100},
      "inputs": [{"name": "x", "shape": [-1, 8]}]})");
  const std::vector<SpecChange> changes = DiffSpecs(before, after);
  std::vector<std::string> lines;
  for (const auto& c : changes) lines.push_back(c.path + " " + c.before.dump() + " " + c.after.dump());
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "batching.max_batch_size 32 8",
                       "batching.max_queue_delay_us null 100",
                       "inputs[0].shape[1] 4 8",
                       "labels[0] \"a\" null",
                       "model_version 1 2",
                   }));
  EXPECT_TRUE(DiffSpecs(before, before).empty());
}

}  // namespace
}  // namespace berth::cli
