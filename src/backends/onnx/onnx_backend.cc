#include "backends/onnx/onnx_backend.h"

#include <cstring>
#include <mutex>

#include "common/strings.h"
#include "protocol/infer.h"
#include "common/status_macros.h"
#include "onnxruntime_cxx_api.h"
#include "spdlog/spdlog.h"

namespace berth::backends {
namespace {

using protocol::DataType;

Ort::Env& SharedEnv() {
  // One environment per process, created on first use and kept for the process's lifetime.
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_WARNING, "berth");
  return *env;
}

std::optional<DataType> FromOrtType(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return DataType::kBool;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return DataType::kUint8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return DataType::kUint16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return DataType::kUint32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return DataType::kUint64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return DataType::kInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return DataType::kInt16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return DataType::kInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return DataType::kInt64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return DataType::kFp16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return DataType::kBf16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return DataType::kFp32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return DataType::kFp64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return DataType::kBytes;
    default: return std::nullopt;
  }
}

ONNXTensorElementDataType ToOrtType(DataType type) {
  switch (type) {
    case DataType::kBool: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
    case DataType::kUint8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DataType::kUint16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16;
    case DataType::kUint32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32;
    case DataType::kUint64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64;
    case DataType::kInt8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    case DataType::kInt16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
    case DataType::kInt32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DataType::kInt64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DataType::kFp16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DataType::kBf16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16;
    case DataType::kFp32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DataType::kFp64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case DataType::kBytes: return ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING;
    default: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  }
}

absl::Status Declared(Ort::Session& session, bool inputs, std::vector<DeclaredTensor>* out) {
  Ort::AllocatorWithDefaultOptions allocator;
  const size_t count = inputs ? session.GetInputCount() : session.GetOutputCount();
  for (size_t i = 0; i < count; ++i) {
    Ort::AllocatedStringPtr name = inputs ? session.GetInputNameAllocated(i, allocator)
                                          : session.GetOutputNameAllocated(i, allocator);
    Ort::TypeInfo info = inputs ? session.GetInputTypeInfo(i) : session.GetOutputTypeInfo(i);
    if (info.GetONNXType() != ONNX_TYPE_TENSOR) {
      return absl::InvalidArgumentError(StrCat(inputs ? "input '" : "output '", name.get(),
                                                     "' is not a tensor (sequences and maps are "
                                                     "not supported)"));
    }
    auto tensor_info = info.GetTensorTypeAndShapeInfo();
    auto type = FromOrtType(tensor_info.GetElementType());
    if (!type) {
      return absl::InvalidArgumentError(StrCat(
          inputs ? "input '" : "output '", name.get(), "' has an element type V2 cannot carry"));
    }
    out->push_back({name.get(), *type, tensor_info.GetShape()});
  }
  return absl::OkStatus();
}

class OnnxInstance final : public ModelInstance {
 public:
  OnnxInstance(std::unique_ptr<Ort::Session> session, const inference::ModelConfig& config)
      : session_(std::move(session)),
        memory_info_(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault)) {
    for (const auto& in : config.input()) input_names_.push_back(in.name());
    for (const auto& out : config.output()) {
      output_names_.push_back(out.name());
      auto type = protocol::DataTypeFromConfigName(inference::DataType_Name(out.data_type()));
      output_types_.push_back(type.value_or(DataType::kInvalid));
    }
    for (const auto& n : input_names_) input_name_ptrs_.push_back(n.c_str());
    for (const auto& n : output_names_) output_name_ptrs_.push_back(n.c_str());
  }

  absl::StatusOr<std::vector<protocol::OutputTensor>> Execute(
      std::span<const TensorView> inputs) override {
    try {
      return Run(inputs);
    } catch (const Ort::Exception& e) {
      return absl::InternalError(StrCat("ONNX Runtime failed: ", e.what()));
    } catch (const std::exception& e) {
      return absl::InternalError(StrCat("ONNX Runtime failed: ", e.what()));
    }
  }

 private:
  absl::StatusOr<std::vector<protocol::OutputTensor>> Run(std::span<const TensorView> inputs) {
    std::vector<Ort::Value> values;
    values.reserve(input_names_.size());
    Ort::AllocatorWithDefaultOptions allocator;
    for (const std::string& name : input_names_) {
      const TensorView* view = nullptr;
      for (const TensorView& v : inputs) {
        if (v.name == name) view = &v;
      }
      if (view == nullptr) return absl::InvalidArgumentError("missing input '" + name + "'");
      if (view->datatype == DataType::kBytes) {
        values.push_back(StringTensor(*view, allocator));
      } else {
        values.push_back(Ort::Value::CreateTensor(
            memory_info_, const_cast<char*>(view->data.data()), view->data.size(),
            view->shape.data(), view->shape.size(), ToOrtType(view->datatype)));
      }
    }
    std::vector<Ort::Value> results =
        session_->Run(run_options_, input_name_ptrs_.data(), values.data(), values.size(),
                      output_name_ptrs_.data(), output_name_ptrs_.size());
    std::vector<protocol::OutputTensor> outputs(results.size());
    for (size_t i = 0; i < results.size(); ++i) {
      auto& out = outputs[i];
      out.name = output_names_[i];
      auto info = results[i].GetTensorTypeAndShapeInfo();
      out.shape = info.GetShape();
      auto type = FromOrtType(info.GetElementType());
      out.datatype = type.value_or(DataType::kInvalid);
      const size_t count = info.GetElementCount();
      if (out.datatype == DataType::kBytes) {
        for (size_t j = 0; j < count; ++j) {
          const size_t length = results[i].GetStringTensorElementLength(j);
          std::string element(length, '\0');
          if (length > 0) results[i].GetStringTensorElement(length, j, element.data());
          protocol::AppendBytesElement(element, &out.data);
        }
      } else {
        const size_t bytes = count * protocol::ElementSize(out.datatype);
        out.data.resize(bytes);
        if (bytes) std::memcpy(out.data.data(), results[i].GetTensorRawData(), bytes);
      }
    }
    return outputs;
  }

  Ort::Value StringTensor(const TensorView& view, Ort::AllocatorWithDefaultOptions& allocator) {
    Ort::Value value = Ort::Value::CreateTensor(allocator, view.shape.data(), view.shape.size(),
                                                ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
    // Inputs were validated against their shape before they were queued. Each element is
    // copied with its length, so that every byte value (NUL included) reaches the model.
    if (auto elements = protocol::SplitBytesTensor(view.data); elements.ok()) {
      for (size_t i = 0; i < elements->size(); ++i) {
        const std::string_view element = (*elements)[i];
        char* buffer = value.GetResizedStringTensorElementBuffer(i, element.size());
        if (!element.empty()) std::memcpy(buffer, element.data(), element.size());
      }
    }
    return value;
  }

  std::unique_ptr<Ort::Session> session_;
  Ort::MemoryInfo memory_info_;
  Ort::RunOptions run_options_;
  std::vector<std::string> input_names_, output_names_;
  std::vector<const char*> input_name_ptrs_, output_name_ptrs_;
  std::vector<DataType> output_types_;
};

}  // namespace

std::string OnnxRuntimeVersion() { return Ort::GetVersionString(); }

absl::StatusOr<std::unique_ptr<ModelInstance>> CreateOnnxInstance(
    const std::string& path, const BackendOptions& options, bool complete_config,
    inference::ModelConfig* config) {
  try {
    Ort::SessionOptions session_options;
    session_options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    if (options.intra_op_threads > 0) session_options.SetIntraOpNumThreads(options.intra_op_threads);
    session_options.SetInterOpNumThreads(1);
    // Spinning keeps latency low when cores are spare; on small machines it takes the core
    // the network threads need (see docs/benchmarks.md).
    session_options.AddConfigEntry("session.intra_op.allow_spinning",
                                   options.spin_wait ? "1" : "0");
    auto session = std::make_unique<Ort::Session>(SharedEnv(), path.c_str(), session_options);
    if (complete_config) {
      std::vector<DeclaredTensor> inputs, outputs;
      RETURN_IF_ERROR(Declared(*session, true, &inputs));
      RETURN_IF_ERROR(Declared(*session, false, &outputs));
      RETURN_IF_ERROR(CompleteConfig(inputs, outputs, options, config));
    }
    return std::make_unique<OnnxInstance>(std::move(session), *config);
  } catch (const Ort::Exception& e) {
    return absl::InvalidArgumentError(StrCat("ONNX Runtime cannot load ", path, ": ",
                                                   e.what()));
  }
}

}  // namespace berth::backends
