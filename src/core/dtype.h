// core/dtype.h — element types of tensors, plain and block-quantized.
//
//   si::dtype_row_bytes(si::DType::Q4_K, 2048)  // bytes of one row of 2048 Q4_K weights
//
// Quantized types are stored in blocks of `dtype_block_size` elements taking `dtype_type_size`
// bytes (the layouts are in core/quant_blocks.h). Values of `ggml_type` are GGUF's type ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace si {

enum class DType : uint8_t {
  F32, F16, BF16, F64, I8, I16, I32, I64, U8, BOOL,
  Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, Q8_K,
};

struct DTypeInfo {
  std::string_view name;  // GGUF / ggml spelling ("F32", "Q4_K", ...)
  int block_size;         // elements per block (1 for plain types)
  int type_size;          // bytes per block
  int ggml_type;          // GGUF type id, -1 where GGUF has none
  bool quantized;
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
inline int dtype_block_size(DType t) { return dtype_info(t).block_size; }
inline int dtype_type_size(DType t) { return dtype_info(t).type_size; }
inline bool dtype_is_quantized(DType t) { return dtype_info(t).quantized; }

// Bytes of `n` elements; n must be a multiple of the block size (checked by callers that know
// the tensor's name, so their error can say which tensor).
inline uint64_t dtype_row_bytes(DType t, uint64_t n) {
  const auto& i = dtype_info(t);
  return n / uint64_t(i.block_size) * uint64_t(i.type_size);
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_type);
std::optional<DType> dtype_from_name(std::string_view name);  // "F32", "Q4_K", "bf16" (any case)

}  // namespace si
