// GgufValue: type names, conversions, display and JSON.
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_codec.h"

namespace si {

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8: return "UINT8";
    case GgufType::I8: return "INT8";
    case GgufType::U16: return "UINT16";
    case GgufType::I16: return "INT16";
    case GgufType::U32: return "UINT32";
    case GgufType::I32: return "INT32";
    case GgufType::F32: return "FLOAT32";
    case GgufType::BOOL: return "BOOL";
    case GgufType::STRING: return "STRING";
    case GgufType::ARRAY: return "ARRAY";
    case GgufType::U64: return "UINT64";
    case GgufType::I64: return "INT64";
    case GgufType::F64: return "FLOAT64";
  }
  return "UNKNOWN";
}

size_t gguf_type_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::STRING: case GgufType::ARRAY: return 0;
  }
  return 0;
}

GgufValue GgufValue::array_of_raw(GgufType elem, uint64_t n, std::vector<uint8_t> packed_le) {
  SI_CHECK(elem != GgufType::STRING && elem != GgufType::ARRAY && gguf_type_size(elem) > 0,
           "GGUF raw array of type {} is not allowed", gguf_type_name(elem));
  SI_CHECK(packed_le.size() == n * gguf_type_size(elem), "GGUF raw array: {} bytes for {} x {}",
           packed_le.size(), n, gguf_type_name(elem));
  GgufValue r;
  r.type_ = GgufType::ARRAY;
  r.elem_ = elem;
  r.n_ = n;
  r.raw_ = std::move(packed_le);
  return r;
}

std::optional<int64_t> GgufValue::as_int() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
          if (v > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
          return int64_t(v);
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return int64_t(v);
        } else {
          return std::nullopt;
        }
      },
      scalar_);
}

std::optional<double> GgufValue::as_float() const {
  if (const auto* f = get_if<float>()) return double(*f);
  if (const auto* d = get_if<double>()) return *d;
  return std::nullopt;
}

namespace {

// Element i of a numeric array, formatted, or as JSON.
template <typename Fn> auto visit_elem(const std::vector<uint8_t>& raw, GgufType t, size_t i, Fn fn) {
  const uint8_t* p = raw.data() + i * gguf_type_size(t);
  auto load = [p](auto zero) { decltype(zero) v; std::memcpy(&v, p, sizeof v); return v; };
  switch (t) {
    case GgufType::U8: return fn(load(uint8_t{}));
    case GgufType::I8: return fn(load(int8_t{}));
    case GgufType::U16: return fn(load(uint16_t{}));
    case GgufType::I16: return fn(load(int16_t{}));
    case GgufType::U32: return fn(load(uint32_t{}));
    case GgufType::I32: return fn(load(int32_t{}));
    case GgufType::F32: return fn(load(float{}));
    case GgufType::BOOL: return fn(bool(*p != 0));
    case GgufType::U64: return fn(load(uint64_t{}));
    case GgufType::I64: return fn(load(int64_t{}));
    case GgufType::F64: return fn(load(double{}));
    default: return fn(uint8_t{0});
  }
}

std::string quote(const std::string& s) { return nlohmann::json(s).dump(); }

std::string fmt_scalar(const auto& v) {
  using T = std::decay_t<decltype(v)>;
  if constexpr (std::is_same_v<T, std::string>) return quote(v);
  else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
  else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) return fmt::format("{}", int(v));
  else if constexpr (std::is_same_v<T, std::monostate>) return "null";
  else return fmt::format("{}", v);  // shortest round-trip for floats
}

nlohmann::json json_scalar(const auto& v) {
  using T = std::decay_t<decltype(v)>;
  if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
  else if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) return fmt::format("{}", v);  // JSON has no inf/nan
    return double(v);
  } else return v;
}

}  // namespace

std::string GgufValue::to_string(size_t max_items) const {
  if (type_ != GgufType::ARRAY) return std::visit([](const auto& v) { return fmt_scalar(v); }, scalar_);
  std::string s = "[";
  const size_t shown = size_t(std::min<uint64_t>(n_, max_items));
  for (size_t i = 0; i < shown; ++i) {
    if (i) s += ", ";
    if (elem_ == GgufType::STRING) s += quote(strings_[i]);
    else s += visit_elem(raw_, elem_, i, [](auto v) { return fmt_scalar(v); });
  }
  if (shown < n_) s += shown ? ", ..." : "...";
  s += fmt::format("] ({} x {})", n_, gguf_type_name(elem_));
  return s;
}

nlohmann::json GgufValue::to_json(size_t max_items) const {
  if (type_ != GgufType::ARRAY) return std::visit([](const auto& v) { return json_scalar(v); }, scalar_);
  nlohmann::json items = nlohmann::json::array();
  const size_t shown = size_t(std::min<uint64_t>(n_, max_items));
  for (size_t i = 0; i < shown; ++i) {
    if (elem_ == GgufType::STRING) items.push_back(strings_[i]);
    else items.push_back(visit_elem(raw_, elem_, i, [](auto v) { return json_scalar(v); }));
  }
  nlohmann::json j = {{"type", gguf_type_name(elem_)}, {"count", n_}, {"items", std::move(items)}};
  if (shown < n_) j["truncated"] = true;
  return j;
}

bool GgufValue::operator==(const GgufValue& o) const {
  // Byte equality of the encodings: exact for floats (-0.0 != 0.0, NaN payloads compared).
  if (type_ != o.type_) return false;
  std::string a, b;
  gguf_encode_value(a, *this);
  gguf_encode_value(b, o);
  return a == b;
}

}  // namespace si
