// SafetensorsFile: parse and validate a mapped safetensors file (the checks of the reference
// Rust implementation, each failure a one-line si::Error naming the file and the tensor).
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace si {
namespace {

struct StDtype {
  std::string_view name;
  DType dtype;
  int rank;  // the python library's Dtype enum order (increasing alignment); files sort by it
};
constexpr StDtype kStDtypes[] = {
    {"BOOL", DType::BOOL, 0}, {"U8", DType::U8, 1},     {"I8", DType::I8, 2},   {"I16", DType::I16, 5},
    {"F16", DType::F16, 7},   {"BF16", DType::BF16, 8}, {"I32", DType::I32, 9}, {"F32", DType::F32, 11},
    {"F64", DType::F64, 12},  {"I64", DType::I64, 13},
};

constexpr uint64_t kMaxHeader = 100'000'000;  // what the reference implementation accepts

}  // namespace

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  for (const auto& d : kStDtypes)
    if (d.name == name) return d.dtype;
  return std::nullopt;
}

std::string_view dtype_to_safetensors(DType t) {
  for (const auto& d : kStDtypes)
    if (d.dtype == t) return d.name;
  fail("dtype {} cannot be stored in safetensors", dtype_name(t));
}

int safetensors_dtype_rank(DType t) {
  for (const auto& d : kStDtypes)
    if (d.dtype == t) return d.rank;
  return -1;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.file_ = MappedFile(path);
  const uint64_t size = f.file_.size();
  auto err = [&](const std::string& msg, uint64_t at) { return Error(msg).at(path, at); };
  if (size < 8) throw err(fmt::format("file truncated: {} bytes, too short for the 8-byte header length", size), 0);
  uint64_t n;
  std::memcpy(&n, f.file_.data(), 8);
  if (n > kMaxHeader)
    throw err(fmt::format("header length {} is over the 100 MB limit: not a safetensors file or corrupt", n), 0);
  if (n > size - 8)
    throw err(fmt::format("file truncated: header length {} but only {} bytes follow", n, size - 8), 0);
  f.header_size_ = n;
  const char* h = reinterpret_cast<const char*>(f.file_.data() + 8);
  if (n == 0 || h[0] != '{') throw err("header does not start with '{': not a safetensors file", 8);

  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(h, h + n);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based within the header.
    throw err(fmt::format("header is not valid JSON: {}", e.what()), 8 + (e.byte ? e.byte - 1 : 0));
  }
  if (!j.is_object()) throw err("header is not a JSON object", 8);

  const uint64_t data_size = size - 8 - n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw err("__metadata__ is not an object of strings", 8);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw err(fmt::format("__metadata__ value '{}' is not a string", m.key()), 8);
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { return err(fmt::format("tensor '{}': {}", name, what), 8); };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw bad("entry needs \"dtype\", \"shape\" and \"data_offsets\"");
    if (!v["dtype"].is_string()) throw bad("dtype is not a string");
    const std::string dt = v["dtype"].get<std::string>();
    const auto dtype = dtype_from_safetensors(dt);
    if (!dtype) throw bad(fmt::format("unsupported dtype '{}'", dt));
    SafetensorsTensor t;
    t.name = name;
    t.dtype = *dtype;
    if (!v["shape"].is_array()) throw bad("shape is not an array");
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad(fmt::format("shape {} has a dimension that is not a non-negative integer", v["shape"].dump()));
      const uint64_t x = d.get<uint64_t>();
      if (x > uint64_t(std::numeric_limits<int64_t>::max())) overflow = true;
      else if (x != 0 && numel > std::numeric_limits<uint64_t>::max() / x) overflow = true;
      else numel *= x;
      t.shape.push_back(int64_t(x));
    }
    const uint64_t item = uint64_t(dtype_type_size(t.dtype));
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / item) throw bad(fmt::format("shape {} overflows", v["shape"].dump()));
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets is not a pair of non-negative integers");
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.end < t.begin) throw bad(fmt::format("data_offsets [{}, {}] end before they begin", t.begin, t.end));
    if (t.end - t.begin != numel * item)
      throw bad(fmt::format("data_offsets [{}, {}] hold {} bytes but {} {} needs {}", t.begin, t.end, t.end - t.begin, dt,
                            v["shape"].dump(), numel * item));
    if (t.end > data_size)
      throw err(fmt::format("tensor '{}' data [{}, {}) runs past the end of the file ({} data bytes); the file is truncated",
                            name, t.begin, t.end, data_size), 8 + n + t.begin);
    t.view = TensorView{const_cast<uint8_t*>(f.file_.data() + 8 + n + t.begin), t.dtype, t.shape};
    f.tensors_.push_back(std::move(t));
  }
  // File order = data order (the header's key order is the same for files the library writes).
  std::stable_sort(f.tensors_.begin(), f.tensors_.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  for (size_t i = 0; i < f.tensors_.size(); ++i) {
    const auto& t = f.tensors_[i];
    if (i > 0 && f.tensors_[i - 1].end > t.begin)
      throw err(fmt::format("tensors '{}' and '{}' overlap in the data section", f.tensors_[i - 1].name, t.name), 8 + n + t.begin);
    f.index_[t.name] = i;
  }
  return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const SafetensorsTensor& SafetensorsFile::get(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  throw Error(fmt::format("tensor '{}' not found", name)).at(path());
}

uint64_t SafetensorsFile::tensor_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += t.bytes();
  return n;
}

}  // namespace si
