// formats/gguf.h — GGUF v3 (and v2) files exactly as llama.cpp reads and writes them.
//
//   si::GgufFile g = si::GgufFile::open("model-Q4_K_M.gguf");           // mmap, validated
//   uint32_t n_layer = g.get_u32("llama.block_count");
//   const auto& tokens = g.get_string_array("tokenizer.ggml.tokens");
//   si::TensorView w = g.view(*g.find_tensor("blk.0.attn_q.weight"));   // (C, C), Shape outermost first
//
//   si::GgufWriter out;
//   out.set("general.architecture", si::GgufValue::of(std::string("llama")));
//   out.set("llama.block_count", si::GgufValue::of<uint32_t>(16));
//   out.add_tensor("token_embd.weight", si::DType::Q6_K, {V, C}, ptr);  // ptr lives until write()
//   out.write("model.gguf");                                            // atomically
//
// Layout: "GGUF", u32 version, u64 n_tensors, u64 n_kv, the key/value pairs, the tensor infos
// (name, n_dims, ne[0..n) innermost first, ggml type, offset), zero padding to `alignment`, then the
// data section; each tensor's offset is relative to it and a multiple of the alignment.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/dtype.h"
#include "core/mmap.h"
#include "core/tensor.h"

namespace si {

// GGUF value type ids (gguf.h in ggml).
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_type_name(GgufType t);  // "UINT32", "STRING", ... (as gguf-py spells them)
size_t gguf_type_size(GgufType t);            // bytes of one scalar; 0 for STRING / ARRAY

// One metadata value: a scalar of any GGUF type, a string, or an array of scalars or strings
// (GGUF allows no arrays of arrays in practice: llama.cpp rejects them, so do we).
class GgufValue {
 public:
  GgufValue() = default;

  // Scalars: of<uint8_t> ... of<double>, of<bool>, of(std::string).
  template <typename T> static GgufValue of(T v);
  static GgufValue of(const char* s) { return of(std::string(s)); }
  // Arrays: array<int32_t>({...}), array(std::vector<std::string>{...}).
  template <typename T> static GgufValue array(const std::vector<T>& items);
  static GgufValue array_of_raw(GgufType elem, uint64_t n, std::vector<uint8_t> packed_le);

  GgufType type() const { return type_; }
  GgufType array_type() const { return elem_; }  // element type (ARRAY only)
  bool is_array() const { return type_ == GgufType::ARRAY; }
  uint64_t array_size() const { return n_; }

  // Scalar access: nullptr unless the value holds exactly this type.
  template <typename T> const T* get_if() const { return std::get_if<T>(&scalar_); }
  // Any integer scalar (u8..i64, not bool) as int64 / the u64 value; nullopt otherwise or if it
  // does not fit.
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;  // F32 / F64

  // Arrays. `array_strings` is empty for non-string arrays.
  const std::vector<std::string>& array_strings() const { return strings_; }
  const std::vector<uint8_t>& array_raw() const { return raw_; }  // packed little-endian elements
  template <typename T> std::vector<T> array_as() const;         // exact element type required

  // Display like gguf-dump: scalars in full, arrays as `[12, 13, ...] (512 × INT32)`.
  std::string to_string(size_t max_items = 8) const;
  // JSON: scalars as JSON values; arrays as {"type", "count", "items"} with at most max_items.
  nlohmann::json to_json(size_t max_items) const;

  bool operator==(const GgufValue& o) const;

 private:
  friend class GgufReader;
  using Scalar = std::variant<std::monostate, uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t,
                              float, bool, std::string, uint64_t, int64_t, double>;
  GgufType type_ = GgufType::U8;
  GgufType elem_ = GgufType::U8;
  Scalar scalar_;
  uint64_t n_ = 0;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
};

// GgufType of a C++ scalar (uint8_t -> U8, ..., std::string -> STRING).
template <typename T> constexpr GgufType gguf_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>) return GgufType::U8;
  else if constexpr (std::is_same_v<T, int8_t>) return GgufType::I8;
  else if constexpr (std::is_same_v<T, uint16_t>) return GgufType::U16;
  else if constexpr (std::is_same_v<T, int16_t>) return GgufType::I16;
  else if constexpr (std::is_same_v<T, uint32_t>) return GgufType::U32;
  else if constexpr (std::is_same_v<T, int32_t>) return GgufType::I32;
  else if constexpr (std::is_same_v<T, float>) return GgufType::F32;
  else if constexpr (std::is_same_v<T, bool>) return GgufType::BOOL;
  else if constexpr (std::is_same_v<T, std::string>) return GgufType::STRING;
  else if constexpr (std::is_same_v<T, uint64_t>) return GgufType::U64;
  else if constexpr (std::is_same_v<T, int64_t>) return GgufType::I64;
  else if constexpr (std::is_same_v<T, double>) return GgufType::F64;
  else static_assert(sizeof(T) == 0, "not a GGUF scalar type");
}

template <typename T> GgufValue GgufValue::of(T v) {
  GgufValue r;
  r.type_ = gguf_type_of<T>();
  r.scalar_ = std::move(v);
  return r;
}

template <typename T> GgufValue GgufValue::array(const std::vector<T>& items) {
  GgufValue r;
  r.type_ = GgufType::ARRAY;
  r.elem_ = gguf_type_of<T>();
  r.n_ = items.size();
  if constexpr (std::is_same_v<T, std::string>) {
    r.strings_ = items;
  } else if constexpr (std::is_same_v<T, bool>) {
    for (bool b : items) r.raw_.push_back(b ? 1 : 0);
  } else {
    r.raw_.resize(items.size() * sizeof(T));
    if (!items.empty()) std::memcpy(r.raw_.data(), items.data(), r.raw_.size());
  }
  return r;
}

template <typename T> std::vector<T> GgufValue::array_as() const {
  std::vector<T> out;
  if (type_ != GgufType::ARRAY || elem_ != gguf_type_of<T>()) return out;
  if constexpr (std::is_same_v<T, std::string>) {
    out = strings_;
  } else if constexpr (std::is_same_v<T, bool>) {
    for (uint8_t b : raw_) out.push_back(b != 0);
  } else {
    out.resize(n_);
    if (n_) std::memcpy(out.data(), raw_.data(), n_ * sizeof(T));
  }
  return out;
}

struct GgufKV {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;          // outermost first: GGUF ne {ne0, ne1} is Shape {ne1, ne0}
  uint64_t offset = 0;  // relative to the data section
  uint64_t bytes = 0;
  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps and validates the whole file (header, metadata, tensor infos and bounds); throws
  // si::Error naming the file, the problem and the byte offset.
  static GgufFile open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  uint64_t file_size() const { return file_.size(); }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }   // general.alignment, default 32
  uint64_t data_offset() const { return data_offset_; }  // absolute offset of the data section

  const std::vector<GgufKV>& metadata() const { return kv_; }  // in file order
  const GgufValue* find(std::string_view key) const;           // nullptr when absent

  // Typed getters: throw si::Error("<file>: key '<key>' ...") when missing or of another type.
  std::string get_string(std::string_view key) const;
  uint32_t get_u32(std::string_view key) const;  // any integer type whose value fits
  int64_t get_i64(std::string_view key) const;   // any integer type whose value fits
  float get_f32(std::string_view key) const;     // F32 (or F64)
  bool get_bool(std::string_view key) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(std::string_view key) const;  // any integer array that fits
  std::vector<float> get_f32_array(std::string_view key) const;    // F32 array

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // in file order
  const GgufTensorInfo* find_tensor(std::string_view name) const;          // nullptr when absent
  TensorView view(const GgufTensorInfo& t) const;                          // into the mapping
  TensorView view(std::string_view name) const;                            // throws when absent
  uint64_t tensor_bytes() const;                                           // sum of t.bytes
  const uint8_t* data() const { return file_.data(); }

 private:
  friend class GgufReader;
  const GgufValue& need(std::string_view key) const;
  [[noreturn]] void wrong_type(std::string_view key, const GgufValue& v, std::string_view want) const;
  MappedFile file_;
  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKV> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

class GgufWriter {
 public:
  using ByteSink = std::function<void(const void* data, size_t n)>;
  using Source = std::function<void(const ByteSink& emit)>;  // must emit exactly the tensor's bytes

  // Sets a key: an existing key keeps its position (replace in place), a new one is appended.
  // Setting "general.alignment" (U32, power of two) changes the alignment.
  void set(const std::string& key, GgufValue value);
  bool remove(const std::string& key);
  const GgufValue* find(std::string_view key) const;
  const std::vector<GgufKV>& metadata() const { return kv_; }
  void set_alignment(uint32_t alignment) { set("general.alignment", GgufValue::of(alignment)); }
  uint32_t alignment() const { return alignment_; }

  // Tensors are written in the order added. `data` is not copied: it must stay valid until write()
  // returns. The innermost dimension must be a multiple of the dtype's block size.
  void add_tensor(std::string name, DType dtype, Shape shape, const void* data);
  void add_tensor(std::string name, DType dtype, Shape shape, Source source);
  size_t n_tensors() const { return tensors_.size(); }

  // Writes the file atomically, laid out byte for byte as llama.cpp's gguf writer (and gguf-py)
  // do: v3, tensor data aligned and padded to the alignment, the last tensor included.
  void write(const std::string& path) const;

 private:
  struct Entry {
    GgufTensorInfo info;
    const void* data;
    Source source;
  };
  std::vector<GgufKV> kv_;
  std::vector<Entry> tensors_;
  std::unordered_map<std::string, size_t> tensor_names_;
  uint32_t alignment_ = 32;
};

}  // namespace si
