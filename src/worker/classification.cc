#include "worker/classification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <numeric>
#include <span>

#include "common/strings.h"

namespace berth::worker {
namespace {

using protocol::DataType;

// IEEE 754 binary16 to float.
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000 | (mantissa << 13);  // infinity, NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // zero
  } else {  // subnormal: normalise
    exponent = 113;
    while ((mantissa & 0x400) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

template <typename T>
T Load(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Element `i` as a double (exact for every type but 64-bit integers, which Before compares
// as they are), and as the text Triton writes for it.
double ValueAt(DataType type, const char* base, size_t i) {
  switch (type) {
    case DataType::kBool: return Load<uint8_t>(base + i) != 0 ? 1 : 0;
    case DataType::kUint8: return Load<uint8_t>(base + i);
    case DataType::kUint16: return Load<uint16_t>(base + 2 * i);
    case DataType::kUint32: return Load<uint32_t>(base + 4 * i);
    case DataType::kUint64: return static_cast<double>(Load<uint64_t>(base + 8 * i));
    case DataType::kInt8: return Load<int8_t>(base + i);
    case DataType::kInt16: return Load<int16_t>(base + 2 * i);
    case DataType::kInt32: return Load<int32_t>(base + 4 * i);
    case DataType::kInt64: return static_cast<double>(Load<int64_t>(base + 8 * i));
    case DataType::kFp16: return HalfToFloat(Load<uint16_t>(base + 2 * i));
    case DataType::kBf16: {
      const uint32_t bits = static_cast<uint32_t>(Load<uint16_t>(base + 2 * i)) << 16;
      float f;
      std::memcpy(&f, &bits, sizeof(f));
      return f;
    }
    case DataType::kFp32: return Load<float>(base + 4 * i);
    case DataType::kFp64: return Load<double>(base + 8 * i);
    default: return 0;
  }
}

std::string ValueText(DataType type, const char* base, size_t i) {
  switch (type) {
    case DataType::kUint64: return std::to_string(Load<uint64_t>(base + 8 * i));
    case DataType::kInt64: return std::to_string(Load<int64_t>(base + 8 * i));
    case DataType::kFp16:
    case DataType::kBf16:
    case DataType::kFp32:
    case DataType::kFp64: return std::to_string(ValueAt(type, base, i));
    default: return std::to_string(static_cast<int64_t>(ValueAt(type, base, i)));
  }
}

// Whether element `a` ranks before element `b`: the higher value first (64-bit integers
// compared exactly; NaN last, so that the order stays a strict weak one), then the lower index.
bool Before(DataType type, const char* base, size_t a, size_t b) {
  if (type == DataType::kInt64 || type == DataType::kUint64) {
    const auto compare = [&](auto va, auto vb) { return va > vb || (va == vb && a < b); };
    if (type == DataType::kInt64) {
      return compare(Load<int64_t>(base + 8 * a), Load<int64_t>(base + 8 * b));
    }
    return compare(Load<uint64_t>(base + 8 * a), Load<uint64_t>(base + 8 * b));
  }
  const auto key = [&](size_t i) {
    const double v = ValueAt(type, base, i);
    return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
  };
  const double va = key(a), vb = key(b);
  return va > vb || (va == vb && a < b);
}

}  // namespace

absl::StatusOr<protocol::OutputTensor> Classify(const protocol::OutputTensor& output,
                                                uint32_t count, bool batched,
                                                const std::vector<std::string>& labels) {
  if (output.datatype == DataType::kBytes || output.datatype == DataType::kInvalid) {
    return absl::InvalidArgumentError(
        StrCat("output '", output.name, "' is ", protocol::DataTypeName(output.datatype),
               ": classification ranks numeric outputs only"));
  }
  const size_t element_size = protocol::ElementSize(output.datatype);
  const size_t elements = output.data.size() / element_size;
  size_t rows = 1;
  if (batched) {
    if (output.shape.empty()) {
      return absl::InvalidArgumentError(
          StrCat("output '", output.name, "' has no batch dimension to classify by"));
    }
    rows = static_cast<size_t>(std::max<int64_t>(output.shape[0], 0));
  }
  if (rows == 0 || elements % rows != 0) {
    return absl::InvalidArgumentError(
        StrCat("output '", output.name, "' cannot be split into ", rows, " rows"));
  }
  const size_t per_row = elements / rows;
  const size_t k = std::min<size_t>(count, per_row);
  protocol::OutputTensor classes{.name = output.name, .datatype = DataType::kBytes};
  classes.shape = batched ? std::vector<int64_t>{static_cast<int64_t>(rows),
                                                 static_cast<int64_t>(k)}
                          : std::vector<int64_t>{static_cast<int64_t>(k)};
  classes.binary = output.binary;
  std::vector<size_t> order(per_row);
  for (size_t row = 0; row < rows; ++row) {
    const char* base = output.data.data() + row * per_row * element_size;
    std::iota(order.begin(), order.end(), size_t{0});
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](size_t a, size_t b) { return Before(output.datatype, base, a, b); });
    for (size_t j = 0; j < k; ++j) {
      const size_t index = order[j];
      std::string text = StrCat(ValueText(output.datatype, base, index), ":", index);
      if (index < labels.size()) StrAppend(&text, ":", labels[index]);
      protocol::AppendBytesElement(text, &classes.data);
    }
  }
  return classes;
}

}  // namespace berth::worker
