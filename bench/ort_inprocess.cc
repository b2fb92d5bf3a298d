// berth_bench_inprocess: the baseline for berth's serving benchmarks. Runs an ONNX model with
// ONNX Runtime's C++ API in a tight loop, with the session options berth's ONNX backend uses
// (graph optimisation ALL, intra-op threads N, inter-op threads 1), on random input of shape
// [batch, ...], and prints items/s and per-call latency percentiles.

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "latency_summary.h"
#include "onnxruntime_cxx_api.h"

namespace berth::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string model;
  int64_t batch = 1;
  int threads = 0;
  bool spin_wait = true;
  double seconds = 5.0;
  double warmup_seconds = 1.0;
};

// Random FP32 inputs with the model's declared shapes, the first (batch) dim set to `batch`.
struct Inputs {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<float>> data;
};

bool MakeInputs(Ort::Session& session, int64_t batch, Inputs* inputs, std::string* error) {
  Ort::AllocatorWithDefaultOptions allocator;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (size_t i = 0; i < session.GetInputCount(); ++i) {
    const std::string name = session.GetInputNameAllocated(i, allocator).get();
    // The shape info is a view into the type info, which must outlive it.
    Ort::TypeInfo type_info = session.GetInputTypeInfo(i);
    auto info = type_info.GetTensorTypeAndShapeInfo();
    if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      *error = "input '" + name + "' is not FP32; only FP32 models are supported";
      return false;
    }
    std::vector<int64_t> shape = info.GetShape();
    if (shape.empty() || shape[0] != -1) {
      *error = "input '" + name + "' has no dynamic first (batch) dimension";
      return false;
    }
    shape[0] = batch;
    size_t count = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] < 0) {
        *error = "input '" + name + "' has a dynamic dimension other than the first";
        return false;
      }
      count *= static_cast<size_t>(shape[d]);
    }
    std::vector<float> values(count);
    for (float& v : values) v = uniform(rng);
    inputs->names.push_back(name);
    inputs->shapes.push_back(std::move(shape));
    inputs->data.push_back(std::move(values));
  }
  return true;
}

int Run(const Flags& flags) {
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "berth_bench_inprocess");
  Ort::SessionOptions options;
  options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  if (flags.threads > 0) options.SetIntraOpNumThreads(flags.threads);
  options.SetInterOpNumThreads(1);
  options.AddConfigEntry("session.intra_op.allow_spinning", flags.spin_wait ? "1" : "0");
  Ort::Session session(env, flags.model.c_str(), options);

  Inputs inputs;
  std::string error;
  if (!MakeInputs(session, flags.batch, &inputs, &error)) {
    std::fprintf(stderr, "berth_bench_inprocess: %s\n", error.c_str());
    return 2;
  }
  Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<Ort::Value> values;
  std::vector<const char*> input_names;
  for (size_t i = 0; i < inputs.names.size(); ++i) {
    values.push_back(Ort::Value::CreateTensor<float>(memory, inputs.data[i].data(),
                                                     inputs.data[i].size(), inputs.shapes[i].data(),
                                                     inputs.shapes[i].size()));
    input_names.push_back(inputs.names[i].c_str());
  }
  Ort::AllocatorWithDefaultOptions allocator;
  std::vector<std::string> output_names;
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    output_names.push_back(session.GetOutputNameAllocated(i, allocator).get());
  }
  std::vector<const char*> output_name_ptrs;
  for (const auto& n : output_names) output_name_ptrs.push_back(n.c_str());

  Ort::RunOptions run_options;
  auto run_once = [&] {
    // Outputs are allocated by ONNX Runtime on every call, as in berth's backend.
    auto outputs = session.Run(run_options, input_names.data(), values.data(), values.size(),
                               output_name_ptrs.data(), output_name_ptrs.size());
    return outputs.size();
  };

  const auto warmup_end = Clock::now() + std::chrono::duration<double>(flags.warmup_seconds);
  do {
    run_once();
  } while (Clock::now() < warmup_end);

  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 16);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(flags.seconds);
  Clock::time_point now = start;
  while (now < end) {
    const auto before = now;
    run_once();
    now = Clock::now();
    latencies_us.push_back(std::chrono::duration<double, std::micro>(now - before).count());
  }
  const double elapsed = std::chrono::duration<double>(now - start).count();
  std::string prefix = "inprocess model=" + flags.model + " batch=" + std::to_string(flags.batch) +
                       " threads=" + std::to_string(flags.threads);
  PrintSummary(prefix, latencies_us, elapsed, flags.batch);
  return 0;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  berth::bench::Flags flags;
  CLI::App app(
      "Runs an ONNX model in-process with ONNX Runtime in a tight loop (the baseline "
      "for berth's serving benchmarks)");
  app.add_option("--model", flags.model, "Path to model.onnx")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--batch", flags.batch, "Batch size (first input dimension)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  app.add_option("--threads", flags.threads, "Intra-op threads (0: ONNX Runtime default)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  app.add_option("--spin-wait", flags.spin_wait,
                 "Let intra-op threads spin (berth worker --engine-spin-wait)")
      ->capture_default_str();
  app.add_option("--seconds", flags.seconds, "Measured duration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup-seconds", flags.warmup_seconds, "Unmeasured warm-up before it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    return berth::bench::Run(flags);
  } catch (const Ort::Exception& e) {
    std::fprintf(stderr, "berth_bench_inprocess: ONNX Runtime failed: %s\n", e.what());
    return 1;
  }
}
