// berth_bench_loadgen: a closed-loop load generator for V2 (KServe / Triton) inference servers.
// C client threads each send one request, wait for the answer and send the next, over their
// own keep-alive HTTP/1.1 connection (JSON or Triton binary data) or over gRPC (a few shared
// channels, raw_input_contents). After a warm-up it counts the requests that complete in the
// measured window and prints requests/s, items/s, latency percentiles and the error count.
// `http-live` and `grpc-live` call the liveness endpoint instead of a model: the transport floor
// (client, kernel, server framing) against which inference overhead can be read.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpc_service.grpc.pb.h"
#include "latency_summary.h"

namespace berth::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct InputSpec {
  std::string name;
  std::vector<int64_t> shape;  // per request, including the batch dim
  std::vector<float> data;     // random, filled once
};

struct Flags {
  std::string protocol = "grpc";
  std::string host = "127.0.0.1";
  int port = 0;
  std::string model;
  std::string model_version;
  std::vector<std::string> inputs;  // NAME:D0xD1x...
  int concurrency = 1;
  int grpc_channels = 0;  // 0: min(concurrency, 4)
  double seconds = 5.0;
  double warmup_seconds = 2.0;
};

// Parses NAME:D0xD1x... into a spec with random FP32 data.
bool ParseInput(const std::string& text, std::mt19937* rng, InputSpec* spec, std::string* error) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    *error = "--input '" + text + "' is not NAME:D0xD1x...";
    return false;
  }
  spec->name = text.substr(0, colon);
  size_t count = 1;
  size_t start = colon + 1;
  while (start <= text.size()) {
    size_t end = text.find('x', start);
    if (end == std::string::npos) end = text.size();
    try {
      const long long dim = std::stoll(text.substr(start, end - start));
      if (dim <= 0) throw std::invalid_argument("non-positive");
      spec->shape.push_back(dim);
      count *= static_cast<size_t>(dim);
    } catch (const std::exception&) {
      *error = "--input '" + text + "' has a dimension that is not a positive integer";
      return false;
    }
    start = end + 1;
  }
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  spec->data.resize(count);
  for (float& v : spec->data) v = uniform(*rng);
  return true;
}

std::string ShapeJson(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// The V2 JSON request body (data inline) or, for Triton binary data, the JSON header followed
// by the raw tensors; `*header_length` is then the JSON part's size.
std::string HttpBody(const std::vector<InputSpec>& inputs, bool binary, size_t* header_length) {
  std::string json = "{\"inputs\":[";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputSpec& in = inputs[i];
    if (i > 0) json += ',';
    json += "{\"name\":\"" + in.name + "\",\"datatype\":\"FP32\",\"shape\":" + ShapeJson(in.shape);
    if (binary) {
      json += ",\"parameters\":{\"binary_data_size\":" +
              std::to_string(in.data.size() * sizeof(float)) + "}}";
    } else {
      json += ",\"data\":[";
      char number[32];
      for (size_t j = 0; j < in.data.size(); ++j) {
        const int n = std::snprintf(number, sizeof(number), j > 0 ? ",%.6g" : "%.6g",
                                    static_cast<double>(in.data[j]));
        json.append(number, static_cast<size_t>(n));
      }
      json += "]}";
    }
  }
  json += "]";
  if (binary) json += ",\"parameters\":{\"binary_data_output\":true}";
  json += "}";
  *header_length = json.size();
  if (binary) {
    for (const InputSpec& in : inputs) {
      json.append(reinterpret_cast<const char*>(in.data.data()), in.data.size() * sizeof(float));
    }
  }
  return json;
}

// The body of a request whose inputs lie one after another in the shared-memory region
// `region` (system shared-memory extension); the outputs come back as binary data.
std::string SharedMemoryBody(const std::vector<InputSpec>& inputs, const std::string& region) {
  std::string json = "{\"inputs\":[";
  size_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputSpec& in = inputs[i];
    const size_t bytes = in.data.size() * sizeof(float);
    if (i > 0) json += ',';
    json += "{\"name\":\"" + in.name + "\",\"datatype\":\"FP32\",\"shape\":" +
            ShapeJson(in.shape) + ",\"parameters\":{\"shared_memory_region\":\"" + region +
            "\",\"shared_memory_byte_size\":" + std::to_string(bytes) +
            ",\"shared_memory_offset\":" + std::to_string(offset) + "}}";
    offset += bytes;
  }
  json += "],\"parameters\":{\"binary_data_output\":true}}";
  return json;
}

// A POSIX shared-memory object holding the inputs, removed with the client.
class SharedInputs {
 public:
  SharedInputs(const std::string& key, const std::vector<InputSpec>& inputs) : key_(key) {
    for (const InputSpec& in : inputs) size_ += in.data.size() * sizeof(float);
    const int fd = shm_open(key_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(size_)) != 0) {
      if (fd >= 0) close(fd);
      return;
    }
    size_t offset = 0;
    bool ok = true;
    for (const InputSpec& in : inputs) {
      const size_t bytes = in.data.size() * sizeof(float);
      ok = ok && pwrite(fd, in.data.data(), bytes, static_cast<off_t>(offset)) ==
                     static_cast<ssize_t>(bytes);
      offset += bytes;
    }
    close(fd);
    created_ = ok;
  }
  ~SharedInputs() { shm_unlink(key_.c_str()); }
  bool created() const { return created_; }
  size_t size() const { return size_; }

 private:
  std::string key_;
  size_t size_ = 0;
  bool created_ = false;
};

// What every client thread shares: the time window, the error count and the first error.
class Run {
 public:
  Run(double warmup_seconds, double seconds)
      : measure_start_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(warmup_seconds))),
        measure_end_(measure_start_ + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds))) {}

  Clock::time_point measure_start() const { return measure_start_; }
  Clock::time_point measure_end() const { return measure_end_; }

  void Error(const std::string& message) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    if (first_error_.empty()) first_error_ = message;
  }
  int64_t errors() const { return errors_.load(); }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

  // Records a request sent at `sent` if it completed inside the measured window. Counting by
  // completion keeps throughput right when a request takes as long as the window itself.
  void Record(std::vector<double>* samples, Clock::time_point sent, Clock::time_point done) {
    if (done >= measure_start_ && done <= measure_end_) {
      samples->push_back(std::chrono::duration<double, std::micro>(done - sent).count());
    }
  }

 private:
  const Clock::time_point measure_start_;
  const Clock::time_point measure_end_;
  std::atomic<int64_t> errors_{0};
  std::mutex mu_;
  std::string first_error_;
};

void HttpClient(const Flags& flags, const std::vector<InputSpec>& inputs, const std::string& body,
                size_t header_length, bool binary, Run* run, std::vector<double>* samples) {
  net::io_context io;
  tcp::socket socket(io);
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(flags.host, std::to_string(flags.port), ec);
  if (!ec) net::connect(socket, endpoints, ec);
  if (ec) {
    run->Error("connect: " + ec.message());
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  const bool live = flags.protocol == "http-live";
  const bool shm = flags.protocol == "http-shm";
  std::string target = "/v2/models/" + flags.model;
  if (!flags.model_version.empty()) target += "/versions/" + flags.model_version;
  target += "/infer";
  http::request<http::string_body> request{live ? http::verb::get : http::verb::post,
                                           live ? "/v2/health/live" : target, 11};
  request.set(http::field::host, flags.host);
  request.keep_alive(true);
  if (live) {
    // No body.
  } else if (binary) {
    request.set(http::field::content_type, "application/octet-stream");
    request.set("Inference-Header-Content-Length", std::to_string(header_length));
  } else {
    request.set(http::field::content_type, "application/json");
  }
  if (!live) request.body() = body;
  request.prepare_payload();
  beast::flat_buffer buffer;
  // Beast reads at most the buffer's spare capacity (at least 512 bytes) per read_some.
  buffer.reserve(64 * 1024);
  // http-shm: this client's own object and region, registered on its connection.
  static std::atomic<int> next_client{0};
  const std::string region = "bench" + std::to_string(next_client.fetch_add(1));
  std::unique_ptr<SharedInputs> shared;
  auto control = [&](std::string_view path, std::string control_body) {
    http::request<http::string_body> call{http::verb::post, std::string(path), 11};
    call.set(http::field::host, flags.host);
    call.set(http::field::content_type, "application/json");
    call.keep_alive(true);
    call.body() = std::move(control_body);
    call.prepare_payload();
    http::write(socket, call, ec);
    http::response<http::string_body> answer;
    if (!ec) http::read(socket, buffer, answer, ec);
    return !ec && answer.result() == http::status::ok;
  };
  if (shm) {
    const std::string key = "/berth_bench_" + std::to_string(getpid()) + "_" + region;
    shared = std::make_unique<SharedInputs>(key, inputs);
    if (!shared->created() ||
        !control("/v2/systemsharedmemory/region/" + region + "/register",
                 "{\"key\":\"" + key + "\",\"offset\":0,\"byte_size\":" +
                     std::to_string(shared->size()) + "}")) {
      run->Error("could not create and register the shared-memory region " + key);
      return;
    }
    request.set(http::field::content_type, "application/json");
    request.body() = SharedMemoryBody(inputs, region);
    request.erase("Inference-Header-Content-Length");
    request.prepare_payload();
  }
  while (Clock::now() < run->measure_end()) {
    const Clock::time_point sent = Clock::now();
    http::write(socket, request, ec);
    http::response<http::string_body> response;
    if (!ec) http::read(socket, buffer, response, ec);
    const Clock::time_point done = Clock::now();
    if (ec) {
      run->Error("HTTP: " + ec.message());
      return;  // the connection is unusable
    }
    if (response.result() != http::status::ok) {
      run->Error("HTTP " + std::to_string(response.result_int()) + ": " + response.body());
      continue;
    }
    if (!live && ((binary || shm) ? response.find("Inference-Header-Content-Length") ==
                                        response.end()
                         : response.body().find("\"outputs\"") == std::string::npos)) {
      run->Error("HTTP 200 without the expected outputs: " + response.body().substr(0, 200));
      continue;
    }
    run->Record(samples, sent, done);
    if (!response.keep_alive()) {
      run->Error("the server closed the keep-alive connection");
      return;
    }
  }
  if (shm) control("/v2/systemsharedmemory/region/" + region + "/unregister", "");
}

void GrpcLiveClient(std::shared_ptr<grpc::Channel> channel, Run* run,
                    std::vector<double>* samples) {
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  const inference::ServerLiveRequest request;
  while (Clock::now() < run->measure_end()) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    inference::ServerLiveResponse response;
    const Clock::time_point sent = Clock::now();
    grpc::Status status = stub->ServerLive(&context, request, &response);
    const Clock::time_point done = Clock::now();
    if (!status.ok() || !response.live()) {
      run->Error("gRPC ServerLive " + std::to_string(status.error_code()) + ": " +
                 status.error_message());
      continue;
    }
    run->Record(samples, sent, done);
  }
}

void GrpcClient(std::shared_ptr<grpc::Channel> channel, const inference::ModelInferRequest& request,
                Run* run, std::vector<double>* samples) {
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  while (Clock::now() < run->measure_end()) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    inference::ModelInferResponse response;
    const Clock::time_point sent = Clock::now();
    grpc::Status status = stub->ModelInfer(&context, request, &response);
    const Clock::time_point done = Clock::now();
    if (!status.ok()) {
      run->Error("gRPC " + std::to_string(status.error_code()) + ": " + status.error_message());
      continue;
    }
    if (response.outputs_size() == 0) {
      run->Error("gRPC OK without outputs");
      continue;
    }
    run->Record(samples, sent, done);
  }
}

int Main(const Flags& flags) {
  const bool live = flags.protocol == "http-live" || flags.protocol == "grpc-live";
  if (!live && (flags.model.empty() || flags.inputs.empty())) {
    std::fprintf(stderr, "berth_bench_loadgen: --model and --input are required for %s\n",
                 flags.protocol.c_str());
    return 2;
  }
  std::mt19937 rng(42);
  std::vector<InputSpec> inputs(flags.inputs.size());
  for (size_t i = 0; i < flags.inputs.size(); ++i) {
    std::string error;
    if (!ParseInput(flags.inputs[i], &rng, &inputs[i], &error)) {
      std::fprintf(stderr, "berth_bench_loadgen: %s\n", error.c_str());
      return 2;
    }
  }
  const int64_t items = live ? 1 : inputs.front().shape.front();

  std::vector<std::vector<double>> samples(static_cast<size_t>(flags.concurrency));
  for (auto& s : samples) s.reserve(1 << 15);
  std::vector<std::thread> threads;
  std::unique_ptr<Run> run;
  if (flags.protocol == "grpc" || flags.protocol == "grpc-live") {
    inference::ModelInferRequest request;
    request.set_model_name(flags.model);
    request.set_model_version(flags.model_version);
    for (const InputSpec& in : inputs) {
      auto* tensor = request.add_inputs();
      tensor->set_name(in.name);
      tensor->set_datatype("FP32");
      for (int64_t d : in.shape) tensor->add_shape(d);
      request.add_raw_input_contents()->assign(reinterpret_cast<const char*>(in.data.data()),
                                               in.data.size() * sizeof(float));
    }
    const int channel_count =
        flags.grpc_channels > 0 ? flags.grpc_channels : std::min(flags.concurrency, 4);
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    const std::string target = flags.host + ":" + std::to_string(flags.port);
    for (int i = 0; i < channel_count; ++i) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      // Distinct arguments keep gRPC from sharing one TCP connection between the channels.
      args.SetInt("berth.bench.channel_index", i);
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
        std::fprintf(stderr, "berth_bench_loadgen: cannot connect to gRPC at %s\n", target.c_str());
        return 1;
      }
      channels.push_back(std::move(channel));
    }
    run = std::make_unique<Run>(flags.warmup_seconds, flags.seconds);
    for (int i = 0; i < flags.concurrency; ++i) {
      const auto& channel = channels[static_cast<size_t>(i) % channels.size()];
      auto* mine = &samples[static_cast<size_t>(i)];
      if (flags.protocol == "grpc-live") {
        threads.emplace_back(GrpcLiveClient, channel, run.get(), mine);
      } else {
        threads.emplace_back(GrpcClient, channel, std::cref(request), run.get(), mine);
      }
    }
    for (auto& t : threads) t.join();
  } else {
    const bool binary = flags.protocol == "http-binary";
    size_t header_length = 0;
    const std::string body = HttpBody(inputs, binary, &header_length);
    run = std::make_unique<Run>(flags.warmup_seconds, flags.seconds);
    for (int i = 0; i < flags.concurrency; ++i) {
      threads.emplace_back(HttpClient, std::cref(flags), std::cref(inputs), std::cref(body),
                           header_length, binary, run.get(), &samples[static_cast<size_t>(i)]);
    }
    for (auto& t : threads) t.join();
  }

  std::vector<double> all;
  for (const auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  const std::string prefix = "loadgen protocol=" + flags.protocol + " model=" + flags.model +
                             " concurrency=" + std::to_string(flags.concurrency) +
                             " items_per_request=" + std::to_string(items) +
                             " errors=" + std::to_string(run->errors());
  PrintSummary(prefix, all, flags.seconds, items);
  if (run->errors() > 0) {
    std::fprintf(stderr, "berth_bench_loadgen: %lld errors; the first: %s\n",
                 static_cast<long long>(run->errors()), run->first_error().c_str());
    return 1;
  }
  if (all.empty()) {
    std::fprintf(stderr, "berth_bench_loadgen: no request completed in the measured window\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  berth::bench::Flags flags;
  CLI::App app(
      "Closed-loop load generator for V2 inference servers (HTTP JSON, HTTP binary "
      "data, gRPC)");
  app.add_option("--protocol", flags.protocol,
                 "http-json, http-binary, http-shm (inputs in system shared memory, outputs as binary "
                 "data) or grpc; http-live or grpc-live call the liveness "
                 "endpoint instead (transport floor; --model and --input are then ignored)")
      ->capture_default_str()
      ->check(CLI::IsMember({"http-json", "http-binary", "http-shm", "grpc", "http-live",
                              "grpc-live"}));
  app.add_option("--host", flags.host, "Server address")->capture_default_str();
  app.add_option("--port", flags.port, "HTTP or gRPC port (matching --protocol)")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--model", flags.model, "Model name");
  app.add_option("--model-version", flags.model_version, "Model version (default: server's)");
  app.add_option("--input", flags.inputs,
                 "FP32 input as NAME:D0xD1x... (shape of one request, batch dim first); "
                 "repeat for each input");
  app.add_option("--concurrency,-c", flags.concurrency,
                 "Client threads, one request in flight "
                 "each")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--grpc-channels", flags.grpc_channels,
                 "gRPC channels (connections) the clients share (0: min(concurrency, 4))")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--seconds", flags.seconds, "Measured duration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup-seconds", flags.warmup_seconds, "Unmeasured warm-up before it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  return berth::bench::Main(flags);
}
