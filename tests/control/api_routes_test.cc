// The /api/v1 route table: how it matches and refuses, and the authorization of every route
// of the real control API, taken through the one table with keys of every scope.
#include "control/api_routes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/error_mapping.h"
#include "common/strings.h"
#include "control/api.h"
#include "control/sqlite_store.h"
#include "google/protobuf/text_format.h"
#include "model_config.pb.h"
#include "tests/control/test_env.h"
#include "tests/runtime/fake_driver.h"

namespace berth::control {
namespace {

namespace fs = std::filesystem;

ApiHandler Answer(int status) {
  return [status](ApiRequest&) -> absl::StatusOr<ApiResponse> {
    return ApiResponse{status, "", "application/json", {}};
  };
}

ApiRequest Request(std::string method, std::vector<std::string> path, Principal principal = {}) {
  ApiRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.principal = std::move(principal);
  request.authenticated = !request.principal.key_id.empty();
  return request;
}

Principal WithScopes(std::vector<std::string> scopes) {
  Principal p;
  p.key_id = "key-test";
  p.key_name = "test";
  p.scopes = std::move(scopes);
  return p;
}

TEST(RouteTableTest, MatchesLiteralsBeforeParametersAndFillsThem) {
  RouteTable table(std::make_unique<ScopeAuthorizer>());
  ASSERT_TRUE(table.Add({"GET", "services/{name}", Access::kRead, Answer(200)}).ok());
  ASSERT_TRUE(table.Add({"GET", "services/{name}/logs", Access::kRead, Answer(201)}).ok());
  ASSERT_TRUE(table.Add({"GET", "services/special", Access::kRead, Answer(202)}).ok());
  auto reader = WithScopes({"read"});

  ApiRequest plain = Request("GET", {"services", "web"}, reader);
  auto response = table.Dispatch(plain);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(plain.params["name"], "web");

  ApiRequest literal = Request("GET", {"services", "special"}, reader);
  EXPECT_EQ(table.Dispatch(literal)->status, 202);
  ApiRequest logs = Request("GET", {"services", "special", "logs"}, reader);
  EXPECT_EQ(table.Dispatch(logs)->status, 201);
  EXPECT_EQ(logs.params["name"], "special");
}

TEST(RouteTableTest, AnotherMethodIs405NamingTheMethodsAndAnUnknownPathIs404) {
  RouteTable table(std::make_unique<ScopeAuthorizer>());
  ASSERT_TRUE(table.Add({"GET", "keys", Access::kAdmin, Answer(200)}).ok());
  ASSERT_TRUE(table.Add({"POST", "keys", Access::kAdmin, Answer(201)}).ok());
  ApiRequest put = Request("PUT", {"keys"}, WithScopes({"admin"}));
  auto refused = table.Dispatch(put);
  EXPECT_EQ(common::HttpStatusFromStatus(refused.status()), 405);
  EXPECT_EQ(common::AllowedMethods(refused.status()), "GET, POST");
  ApiRequest unknown = Request("GET", {"nothing", "here"}, WithScopes({"admin"}));
  auto missing = table.Dispatch(unknown);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Msg(missing.status()).find("/api/v1/nothing/here"), std::string::npos);
  ApiRequest root = Request("GET", {}, WithScopes({"admin"}));
  EXPECT_EQ(table.Dispatch(root).status().code(), absl::StatusCode::kNotFound);
}

TEST(RouteTableTest, ClashingAndMalformedRoutesAreRefused) {
  RouteTable table(std::make_unique<ScopeAuthorizer>());
  ASSERT_TRUE(table.Add({"GET", "services/{name}", Access::kRead, Answer(200)}).ok());
  EXPECT_EQ(table.Add({"GET", "services/{service}", Access::kRead, Answer(200)}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(table.Add({"DELETE", "services/{service}", Access::kDeploy, Answer(204)}).ok());
  EXPECT_FALSE(table.Add({"GET", "services//x", Access::kRead, Answer(200)}).ok());
  EXPECT_FALSE(table.Add({"GET", "a/{x}/b/{x}", Access::kRead, Answer(200)}).ok());
  EXPECT_FALSE(table.Add({"GET", "a/{", Access::kRead, Answer(200)}).ok());
  EXPECT_FALSE(table.Add({"BREW", "coffee", Access::kRead, Answer(200)}).ok());
  EXPECT_FALSE(table.Add({"GET", "coffee", Access::kRead, nullptr}).ok());
  EXPECT_EQ(table.routes().size(), 2u);
}

// Counts the calls, to show the table asks it and nobody else decides.
class CountingAuthorizer final : public Authorizer {
 public:
  explicit CountingAuthorizer(int* calls) : calls_(calls) {}
  absl::Status Authorize(const Principal&, Access access, const ApiRequest& request) const override {
    ++*calls_;
    if (access == Access::kAdmin && request.params.count("id") && request.params.at("id") == "x") {
      return absl::PermissionDeniedError("not this one");
    }
    return absl::OkStatus();
  }

 private:
  int* calls_;
};

TEST(RouteTableTest, TheAuthorizerSeesTheRouteAndItsParameters) {
  int calls = 0;
  RouteTable table(std::make_unique<CountingAuthorizer>(&calls));
  ASSERT_TRUE(table.Add({"DELETE", "keys/{id}", Access::kAdmin, Answer(204)}).ok());
  ASSERT_TRUE(table.Add({"POST", "session", Access::kPublic, Answer(200)}).ok());
  ApiRequest x = Request("DELETE", {"keys", "x"}, WithScopes({"read"}));
  EXPECT_EQ(table.Dispatch(x).status().code(), absl::StatusCode::kPermissionDenied);
  ApiRequest y = Request("DELETE", {"keys", "y"}, WithScopes({"read"}));
  EXPECT_TRUE(table.Dispatch(y).ok());
  EXPECT_EQ(calls, 2);
  ApiRequest anonymous = Request("DELETE", {"keys", "y"});
  EXPECT_EQ(table.Dispatch(anonymous).status().code(), absl::StatusCode::kUnauthenticated);
  ApiRequest sign_in = Request("POST", {"session"});
  EXPECT_TRUE(table.Dispatch(sign_in).ok());
  EXPECT_EQ(calls, 2) << "neither an anonymous caller nor a public route reaches the authorizer";
}

// The real control API's table, on a real store and a fake runtime driver.
class ApiAuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(dir_ / "berth.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ControllerOptions options;
    options.data_dir = dir_.path().string();
    options.store = store_.get();
    options.driver = &driver_;
    options.router = &router_;
    options.clock = &clock_;
    options.reconcile_period_ms = 0;
    controller_ = std::make_unique<Controller>(options);
    auto auth = Authenticator::Create({.store = store_.get(), .clock = &clock_, .flush_period_ms = 0});
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
    ApiOptions api_options;
    api_options.data_dir = dir_.path().string();
    api_ = std::make_unique<ControlApi>(api_options, store_.get(), controller_.get(), auth_.get(),
                                        &traffic_);
  }
  void TearDown() override {
    api_.reset();
    auth_.reset();
    controller_.reset();
    store_.reset();
  }

  ScratchDir dir_{"api_routes"};
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  runtime::FakeDriver driver_;
  routing::Router router_;
  routing::TrafficStats traffic_;
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<ControlApi> api_;
};

// Every route the API has, with what it needs. A new route must be added here, with its
// access, or this test fails.
const std::map<std::string, Access> kExpected = {
    {"GET whoami", Access::kSignedIn},
    {"GET session", Access::kSignedIn},
    {"POST session", Access::kPublic},
    {"DELETE session", Access::kPublic},
    {"GET keys", Access::kAdmin},
    {"POST keys", Access::kAdmin},
    {"DELETE keys/{id}", Access::kAdmin},
    {"GET models", Access::kRead},
    {"GET models/{name}", Access::kRead},
    {"POST models", Access::kDeploy},
    {"DELETE models/{name}", Access::kDeploy},
    {"GET models/{name}/versions/{version}", Access::kRead},
    {"DELETE models/{name}/versions/{version}", Access::kDeploy},
    {"GET services", Access::kRead},
    {"POST services", Access::kDeploy},
    {"PUT services/{name}", Access::kDeploy},
    {"PATCH services/{name}", Access::kDeploy},
    {"GET services/{name}", Access::kRead},
    {"DELETE services/{name}", Access::kDeploy},
    {"GET services/{name}/revisions", Access::kRead},
    {"GET services/{name}/replicas", Access::kRead},
    {"GET services/{name}/metrics", Access::kRead},
    {"GET services/{name}/sample-request", Access::kRead},
    {"GET services/{name}/requests", Access::kRead},
    {"GET services/{name}/logs", Access::kRead},
    {"POST services/{name}/rollback", Access::kDeploy},
    {"GET services/{name}/rollout", Access::kRead},
    {"POST services/{name}/rollout/promote", Access::kDeploy},
    {"POST services/{name}/rollout/abort", Access::kDeploy},
    {"PUT services/{name}/rollout/weights", Access::kDeploy},
    {"GET events", Access::kRead},
    {"GET server", Access::kRead},
};

TEST_F(ApiAuthorizationTest, EveryRouteIsListedWithItsAccess) {
  std::map<std::string, Access> actual;
  for (const ApiRoute& route : api_->routes().routes()) {
    actual[StrCat(route.method, " ", route.pattern)] = route.access;
  }
  for (const auto& [route, access] : kExpected) {
    ASSERT_TRUE(actual.contains(route)) << route << " is gone";
    EXPECT_EQ(AccessName(actual[route]), AccessName(access)) << route;
  }
  for (const auto& [route, access] : actual) {
    EXPECT_TRUE(kExpected.contains(route)) << route << " is new: add it to kExpected";
  }
}

// The OpenAPI document describes every route the table serves, with its method.
TEST_F(ApiAuthorizationTest, EveryRouteIsInTheOpenApiDocument) {
  std::ifstream in(BERTH_OPENAPI_PATH);
  ASSERT_TRUE(in) << BERTH_OPENAPI_PATH;
  const nlohmann::json doc = nlohmann::json::parse(in);
  for (const ApiRoute& route : api_->routes().routes()) {
    const std::string path = StrCat("/api/v1/", route.pattern);
    std::string method = route.method;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_TRUE(doc["paths"].contains(path)) << path << " is not in docs/openapi.json";
    EXPECT_TRUE(doc["paths"][path].contains(method))
        << route.method << " " << path << " is not in docs/openapi.json";
  }
}

// Every route, taken by every kind of caller: refused (401/403) exactly when the caller lacks
// the access, and never refused for authorization reasons otherwise (the handler may still
// answer 400 or 404 for the made-up names).
TEST_F(ApiAuthorizationTest, EveryRouteRefusesExactlyTheCallersThatLackItsAccess) {
  std::vector<std::pair<std::string, std::optional<Principal>>> callers = {
      {"anonymous", std::nullopt},
      {"invoke", WithScopes({"invoke"})},
      {"invoke:web", WithScopes({"invoke:web"})},
      {"read", WithScopes({"read"})},
      {"deploy", WithScopes({"deploy"})},
      {"admin", WithScopes({"admin"})},
  };
  auto may = [](const std::string& caller, Access access) {
    switch (access) {
      case Access::kPublic:
        return true;
      case Access::kSignedIn:
        return caller != "anonymous";
      case Access::kRead:
        return caller == "read" || caller == "deploy" || caller == "admin";
      case Access::kDeploy:
        return caller == "deploy" || caller == "admin";
      case Access::kAdmin:
        return caller == "admin";
    }
    return false;
  };
  // Real keys, so that routes which look the caller up (whoami) find it.
  for (auto& [caller, principal] : callers) {
    if (!principal) continue;
    ApiKeyRecord key;
    key.id = principal->key_id = "key-" + caller;
    key.name = principal->key_name = caller;
    key.hash = std::string(64, 'a' + static_cast<char>(key.id.size() % 16));
    key.hash += caller;
    key.scopes = principal->scopes;
    ASSERT_TRUE(auth_->AddKey(key).ok()) << caller;
  }
  int checked = 0;
  for (const ApiRoute& route : api_->routes().routes()) {
    std::vector<std::string> path;
    for (std::string_view part : SplitPath(route.pattern)) {
      path.push_back(part.starts_with("{") ? "does-not-exist" : std::string(part));
    }
    for (const auto& [caller, principal] : callers) {
      ApiRequest request = Request(route.method, path, principal.value_or(Principal{}));
      const ApiResponse response = api_->Handle(request);
      const bool refused = response.status == 401 || response.status == 403;
      const std::string what = StrCat(caller, " on ", route.method, " ", route.pattern, ": ",
                                      response.status, " ", response.body);
      if (may(caller, route.access)) {
        EXPECT_FALSE(refused) << what;
      } else {
        EXPECT_TRUE(refused) << what;
        EXPECT_EQ(response.status, caller == "anonymous" ? 401 : 403) << what;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(kExpected.size() * callers.size()));
}

TEST_F(ApiAuthorizationTest, AWrongMethodIs405WithAnAllowHeader) {
  ApiRequest request = Request("PATCH", {"keys"}, WithScopes({"admin"}));
  const ApiResponse response = api_->Handle(request);
  EXPECT_EQ(response.status, 405);
  bool allow = false;
  for (const auto& [name, value] : response.headers) allow |= name == "Allow" && value == "GET, POST";
  EXPECT_TRUE(allow) << response.body;
}

TEST_F(ApiAuthorizationTest, ServiceMetricsPerRevisionWithACheckedQuery) {
  ServiceRecord service;
  service.name = "web";
  service.spec = {{"model", "m"}};
  ASSERT_TRUE(store_->InsertService(service).ok());
  const int64_t now = NowMs();
  traffic_.Record("web", now, 1.0, routing::RequestResult::kSuccess, 0, 2);
  traffic_.Record("web", now, 1.0, routing::RequestResult::kServerError, 0, 3);
  auto requests = [&](std::map<std::string, std::string> query) -> nlohmann::json {
    ApiRequest request = Request("GET", {"services", "web", "metrics"}, WithScopes({"read"}));
    request.query = std::move(query);
    const ApiResponse response = api_->Handle(request);
    if (response.status != 200) return response.status;
    const auto last = nlohmann::json::parse(response.body)["points"].back();
    return {last["requests"], last["errors"]};
  };
  EXPECT_EQ(requests({}), nlohmann::json({2, 1}));
  EXPECT_EQ(requests({{"revision", "2"}}), nlohmann::json({1, 0}));
  EXPECT_EQ(requests({{"revision", "3"}}), nlohmann::json({1, 1}));
  EXPECT_EQ(requests({{"revision", "7"}}), nlohmann::json({0, 0}));
  EXPECT_EQ(requests({{"revision", "abc"}}), 400);
  EXPECT_EQ(requests({{"revision", "-1"}}), 400);
}

TEST_F(ApiAuthorizationTest, TensorNamesFromAModelNeverBecomeConfigText) {
  // An ONNX file may name its tensors anything; the worker's config.pbtxt must hold them as
  // names, whatever they contain.
  const std::string hostile = "x\" } max_batch_size: 99 input { name: \"y";
  const std::string file = dir_ / "model.onnx";
  std::ofstream(file) << "not read by this test";
  ModelRecord model;
  model.name = "m";
  model.format = "onnx";
  model.path = file;
  model.metadata = {
      {"inputs", {{{"name", hostile}, {"datatype", "FP32"}, {"shape", {-1, 4}}}}},
      {"outputs", {{{"name", "out\nline"}, {"datatype", "INT64"}, {"shape", {-1, 1}}}}},
      {"max_batch_size", 8}};
  ASSERT_TRUE(store_->InsertModelVersion(model).ok());
  ApiRequest request = Request("POST", {"services"}, WithScopes({"deploy"}));
  request.body = R"({"name": "web", "model": "m", "batching": {"max_batch_size": 4}})";
  const ApiResponse response = api_->Handle(request);
  ASSERT_LT(response.status, 300) << response.body;
  std::ifstream in(dir_ / "services/web/revisions/1/repo/web/config.pbtxt");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  inference::ModelConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  EXPECT_EQ(config.name(), "web");
  EXPECT_EQ(config.max_batch_size(), 4);
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).name(), hostile);
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(std::vector<int64_t>(config.input(0).dims().begin(), config.input(0).dims().end()),
            std::vector<int64_t>{4});
  ASSERT_EQ(config.output_size(), 1);
  EXPECT_EQ(config.output(0).name(), "out\nline");
  EXPECT_EQ(config.output(0).data_type(), inference::TYPE_INT64);
}

}  // namespace
}  // namespace berth::control
