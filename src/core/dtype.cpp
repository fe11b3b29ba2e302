#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

namespace si {
namespace {

constexpr std::array<DTypeInfo, 16> kInfos = {{
    {"F32", 1, 4, 0, false},
    {"F16", 1, 2, 1, false},
    {"BF16", 1, 2, 30, false},
    {"F64", 1, 8, 28, false},
    {"I8", 1, 1, 24, false},
    {"I16", 1, 2, 25, false},
    {"I32", 1, 4, 26, false},
    {"I64", 1, 8, 27, false},
    {"U8", 1, 1, -1, false},
    {"BOOL", 1, 1, -1, false},
    {"Q4_0", 32, 18, 2, true},
    {"Q8_0", 32, 34, 8, true},
    {"Q4_K", 256, 144, 12, true},
    {"Q5_K", 256, 176, 13, true},
    {"Q6_K", 256, 210, 14, true},
    {"Q8_K", 256, 292, 15, true},
}};

}  // namespace

const DTypeInfo& dtype_info(DType t) { return kInfos[static_cast<size_t>(t)]; }

std::optional<DType> dtype_from_ggml(uint32_t ggml_type) {
  for (size_t i = 0; i < kInfos.size(); ++i)
    if (kInfos[i].ggml_type >= 0 && uint32_t(kInfos[i].ggml_type) == ggml_type) return DType(i);
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string up(name);
  for (auto& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < kInfos.size(); ++i)
    if (kInfos[i].name == up) return DType(i);
  return std::nullopt;
}

}  // namespace si
