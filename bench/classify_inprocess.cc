// berth_bench_classify_inprocess: the baseline for berth's classification benchmark. Runs the
// same steps as a berth worker's /classify, in one process and one loop, with nothing between
// them: read encoded images (JPEG/PNG) into memory, then repeatedly decode + pre-process a
// batch of them (berth's image stage) and run the model on it (berth's ONNX backend, same
// session options). Prints images/s.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "backends/backend.h"
#include "common/strings.h"
#include "worker/image_classifier.h"

namespace berth::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int Run(const std::string& model_path, const std::string& images_dir, int batch, int threads,
        double seconds) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(images_dir)) {
    const auto ext = entry.path().extension();
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") {
      std::ifstream in(entry.path(), std::ios::binary);
      files.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }
  if (files.empty()) {
    fprintf(stderr, "no .jpg/.png files in %s\n", images_dir.c_str());
    return 1;
  }
  inference::ModelConfig config;
  config.set_platform("onnxruntime_onnx");
  config.set_max_batch_size(batch);
  backends::BackendOptions options;
  options.intra_op_threads = threads;
  auto instance = backends::CreateModelInstance(model_path, options, true, &config);
  if (!instance.ok()) {
    fprintf(stderr, "%s\n", std::string(instance.status().message()).c_str());
    return 1;
  }
  auto spec = worker::ClassifierSpecFromConfig(config);
  if (!spec.ok()) {
    fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    return 1;
  }
  std::vector<int64_t> shape = {batch};
  for (int64_t d : config.input(0).dims()) shape.push_back(d);
  size_t next = 0;
  auto one_batch = [&]() -> bool {
    std::vector<std::string> images;
    for (int i = 0; i < batch; ++i) images.push_back(files[next++ % files.size()]);
    auto tensor = worker::ImagesToBatch(images, *spec);
    if (!tensor.ok()) {
      fprintf(stderr, "%s\n", std::string(tensor.status().message()).c_str());
      return false;
    }
    backends::TensorView input{.name = spec->input_name,
                               .datatype = protocol::DataType::kFp32,
                               .shape = shape,
                               .data = std::string_view(tensor->data(), tensor->size())};
    auto outputs = (*instance)->Execute(std::span<const backends::TensorView>(&input, 1));
    if (!outputs.ok()) {
      fprintf(stderr, "%s\n", std::string(outputs.status().message()).c_str());
      return false;
    }
    return true;
  };
  if (!one_batch()) return 1;  // warm-up
  const auto start = Clock::now();
  int64_t done = 0;
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    if (!one_batch()) return 1;
    done += batch;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  printf("{\"images\": %lld, \"seconds\": %.3f, \"images_per_s\": %.2f}\n",
         static_cast<long long>(done), elapsed, done / elapsed);
  return 0;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  CLI::App app{"decode + pre-process + ONNX Runtime in one loop (classification baseline)"};
  std::string model, images;
  int batch = 32, threads = 0;
  double seconds = 20;
  app.add_option("--model", model, "model.onnx")->required();
  app.add_option("--images", images, "a directory of JPEG/PNG files")->required();
  app.add_option("--batch", batch, "images per batch")->capture_default_str();
  app.add_option("--threads", threads, "engine intra-op threads (0: all cores)");
  app.add_option("--seconds", seconds, "measured time")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return berth::bench::Run(model, images, batch, threads, seconds);
}
