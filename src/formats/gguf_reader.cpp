// GgufFile: parse and validate a mapped GGUF file (the checks of llama.cpp's gguf_init_from_file
// and llama_model_loader), every failure a one-line si::Error with the byte offset.
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_codec.h"

namespace si {

// Cursor over the mapping; every read is bounds-checked against what is left of the file.
class GgufReader {
 public:
  GgufReader(const std::string& path, const uint8_t* data, size_t size) : path_(path), p_(data), size_(size) {}

  [[noreturn]] void error(const std::string& msg, uint64_t at) const { throw Error(msg).at(path_, at); }
  [[noreturn]] void error(const std::string& msg) const { error(msg, pos_); }

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > left())
      error(fmt::format("file truncated: {} needs {} bytes, only {} left", what, n, left()));
  }
  template <typename T> T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string read_string(std::string_view what) {
    const uint64_t at = pos_;
    const uint64_t n = read<uint64_t>(what);
    if (n > left())
      error(fmt::format("{} has length {}, more than the {} bytes left in the file", what, n, left()), at);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(n));
    if (!utf8_valid(s)) error(fmt::format("{} is not valid UTF-8", what), pos_);
    pos_ += n;
    return s;
  }

  GgufType read_type(std::string_view what, bool allow_array) {
    const uint64_t at = pos_;
    const uint32_t t = read<uint32_t>(what);
    if (t > uint32_t(GgufType::F64) || (!allow_array && t == uint32_t(GgufType::ARRAY)))
      error(fmt::format("{} has invalid GGUF value type {}", what, t), at);
    return GgufType(t);
  }

  GgufValue read_value(GgufType type, const std::string& key) {
    const std::string what = fmt::format("value of key '{}'", key);
    switch (type) {
      case GgufType::U8: return GgufValue::of(read<uint8_t>(what));
      case GgufType::I8: return GgufValue::of(read<int8_t>(what));
      case GgufType::U16: return GgufValue::of(read<uint16_t>(what));
      case GgufType::I16: return GgufValue::of(read<int16_t>(what));
      case GgufType::U32: return GgufValue::of(read<uint32_t>(what));
      case GgufType::I32: return GgufValue::of(read<int32_t>(what));
      case GgufType::F32: return GgufValue::of(read<float>(what));
      case GgufType::BOOL: {
        const uint64_t at = pos_;
        const uint8_t b = read<uint8_t>(what);
        if (b > 1) error(fmt::format("{} is a BOOL holding {}, not 0 or 1", what, b), at);
        return GgufValue::of(b == 1);
      }
      case GgufType::STRING: return GgufValue::of(read_string(what));
      case GgufType::U64: return GgufValue::of(read<uint64_t>(what));
      case GgufType::I64: return GgufValue::of(read<int64_t>(what));
      case GgufType::F64: return GgufValue::of(read<double>(what));
      case GgufType::ARRAY: return read_array(key);
    }
    error(fmt::format("{}: bad type", what));
  }

  GgufValue read_array(const std::string& key) {
    const std::string what = fmt::format("array of key '{}'", key);
    const GgufType elem = read_type(what + " (element type)", /*allow_array=*/false);
    const uint64_t at = pos_;
    const uint64_t n = read<uint64_t>(what + " (length)");
    // Each element takes at least its scalar size (a string at least its 8-byte length).
    const uint64_t min_each = elem == GgufType::STRING ? 8 : gguf_type_size(elem);
    if (n > left() / min_each)
      error(fmt::format("{} claims {} items of {}, which cannot fit in the {} bytes left", what, n,
                        gguf_type_name(elem), left()), at);
    if (elem == GgufType::STRING) {
      std::vector<std::string> items;
      items.reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) items.push_back(read_string(fmt::format("{} item {}", what, i)));
      return GgufValue::array(items);
    }
    if (elem == GgufType::BOOL) {
      for (uint64_t i = 0; i < n; ++i)
        if (p_[pos_ + i] > 1) error(fmt::format("{} item {} is a BOOL holding {}", what, i, p_[pos_ + i]), pos_ + i);
    }
    const size_t bytes = size_t(n * min_each);
    std::vector<uint8_t> raw(p_ + pos_, p_ + pos_ + bytes);
    pos_ += bytes;
    return GgufValue::array_of_raw(elem, n, std::move(raw));
  }

 private:
  const std::string& path_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

GgufFile GgufFile::open(const std::string& path) {
  GgufFile g;
  g.file_ = MappedFile(path);
  GgufReader r(path, g.file_.data(), g.file_.size());

  // ---- header
  r.need(4, "magic");
  if (std::memcmp(g.file_.data(), "GGUF", 4) != 0) {
    const uint8_t* m = g.file_.data();
    r.error(fmt::format("not a GGUF file: magic is {:02x} {:02x} {:02x} {:02x}, expected 47 47 55 46 (\"GGUF\")",
                        m[0], m[1], m[2], m[3]), 0);
  }
  r.read<uint32_t>("magic");
  g.version_ = r.read<uint32_t>("version");
  if (g.version_ == 1) r.error("GGUF version 1 is not supported; re-convert the model with a current llama.cpp", 4);
  if (g.version_ != 2 && g.version_ != 3)
    r.error(fmt::format("unknown GGUF version {} (this build reads versions 2 and 3)", g.version_), 4);
  const uint64_t n_tensors = r.read<uint64_t>("tensor count");
  const uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Lower bounds on what each entry occupies: a KV pair 8 (key length) + 4 (type) + 1; a tensor
  // info 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
  if (n_kv > r.left() / 13)
    r.error(fmt::format("metadata count {} cannot fit in the {} bytes left", n_kv, r.left()), 16);
  if (n_tensors > r.left() / 24)
    r.error(fmt::format("tensor count {} cannot fit in the {} bytes left", n_tensors, r.left()), 8);

  // ---- metadata
  g.kv_.reserve(size_t(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t at = r.pos();
    std::string key = r.read_string(fmt::format("key of metadata entry {}", i));
    if (key.empty()) r.error(fmt::format("metadata entry {} has an empty key", i), at);
    if (g.kv_index_.count(key)) r.error(fmt::format("duplicate metadata key '{}'", key), at);
    const GgufType type = r.read_type(fmt::format("type of key '{}'", key), /*allow_array=*/true);
    GgufValue v = r.read_value(type, key);
    g.kv_index_[key] = g.kv_.size();
    g.kv_.push_back({std::move(key), std::move(v)});
  }
  if (const GgufValue* a = g.find("general.alignment")) {
    const auto n = a->as_int();
    if (a->type() != GgufType::U32 || !n || *n == 0 || (*n & (*n - 1)) != 0)
      r.error(fmt::format("general.alignment must be a UINT32 power of two, got {} {}", gguf_type_name(a->type()),
                          a->to_string()), 0);
    g.alignment_ = uint32_t(*n);
  }

  // ---- tensor infos
  g.tensors_.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t at = r.pos();
    GgufTensorInfo t;
    t.name = r.read_string(fmt::format("name of tensor {}", i));
    if (t.name.empty() || t.name.size() >= 64)
      r.error(fmt::format("tensor {} name '{}' has {} bytes (1..63 allowed)", i, t.name, t.name.size()), at);
    if (g.tensor_index_.count(t.name)) r.error(fmt::format("duplicate tensor name '{}'", t.name), at);
    const uint64_t dims_at = r.pos();
    const uint32_t n_dims = r.read<uint32_t>(fmt::format("n_dims of tensor '{}'", t.name));
    if (n_dims == 0 || n_dims > 4)
      r.error(fmt::format("tensor '{}' has {} dimensions (1..4 allowed)", t.name, n_dims), dims_at);
    t.shape.assign(n_dims, 0);
    int64_t numel = 1;
    for (uint32_t j = 0; j < n_dims; ++j) {
      const uint64_t ne_at = r.pos();
      const uint64_t ne = r.read<uint64_t>(fmt::format("dimension {} of tensor '{}'", j, t.name));
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max()) || numel > std::numeric_limits<int64_t>::max() / int64_t(ne))
        r.error(fmt::format("tensor '{}' dimension {} is {} (zero, or the element count overflows)", t.name, j, ne), ne_at);
      numel *= int64_t(ne);
      t.shape[n_dims - 1 - j] = int64_t(ne);  // GGUF ne0 is the innermost dimension
    }
    const uint64_t type_at = r.pos();
    const uint32_t ggml_type = r.read<uint32_t>(fmt::format("type of tensor '{}'", t.name));
    const auto dt = dtype_from_ggml(ggml_type);
    if (!dt) r.error(fmt::format("tensor '{}' has unsupported ggml type id {}", t.name, ggml_type), type_at);
    t.dtype = *dt;
    const int64_t bs = dtype_block_size(t.dtype);
    if (t.shape.back() % bs != 0)
      r.error(fmt::format("tensor '{}' row length {} is not a multiple of the {} block size {}", t.name, t.shape.back(),
                          dtype_name(t.dtype), bs), dims_at);
    t.bytes = dtype_row_bytes(t.dtype, uint64_t(t.shape.back())) * uint64_t(numel / t.shape.back());
    const uint64_t off_at = r.pos();
    t.offset = r.read<uint64_t>(fmt::format("offset of tensor '{}'", t.name));
    if (t.offset % g.alignment_ != 0)
      r.error(fmt::format("tensor '{}' offset {} is not a multiple of the alignment {}", t.name, t.offset, g.alignment_), off_at);
    g.tensor_index_[t.name] = g.tensors_.size();
    g.tensors_.push_back(std::move(t));
  }

  // ---- data section: starts at the next multiple of the alignment
  const uint64_t header_end = r.pos();
  g.data_offset_ = (header_end + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  const uint64_t size = g.file_.size();
  if (!g.tensors_.empty() && g.data_offset_ > size)
    r.error(fmt::format("file truncated: data section starts at byte {} but the file has {} bytes", g.data_offset_, size), size);
  const uint64_t data_size = size - std::min(size, g.data_offset_);
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : g.tensors_) {
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      r.error(fmt::format("tensor '{}' data ({} bytes at data offset {}) runs past the end of the file ({} data bytes); "
                          "the file is truncated or corrupt", t.name, t.bytes, t.offset, data_size), g.data_offset_ + t.offset);
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* a = by_offset[i - 1];
    const auto* b = by_offset[i];
    if (a->offset + a->bytes > b->offset)
      r.error(fmt::format("tensors '{}' and '{}' overlap in the data section", a->name, b->name), g.data_offset_ + b->offset);
  }
  return g;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

const GgufValue& GgufFile::need(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) throw Error(fmt::format("GGUF key '{}' is missing", key)).at(path());
  return *v;
}

void GgufFile::wrong_type(std::string_view key, const GgufValue& v, std::string_view want) const {
  std::string got(gguf_type_name(v.type()));
  if (v.is_array()) got = fmt::format("ARRAY of {}", gguf_type_name(v.array_type()));
  throw Error(fmt::format("GGUF key '{}' is {} = {}, expected {}", key, got, v.to_string(4), want)).at(path());
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = need(key);
  if (const auto* s = v.get_if<std::string>()) return *s;
  wrong_type(key, v, "STRING");
}

uint32_t GgufFile::get_u32(std::string_view key) const {
  const GgufValue& v = need(key);
  const auto n = v.as_int();
  if (n && *n >= 0 && *n <= int64_t(std::numeric_limits<uint32_t>::max())) return uint32_t(*n);
  wrong_type(key, v, "an integer in 0..4294967295");
}

int64_t GgufFile::get_i64(std::string_view key) const {
  const GgufValue& v = need(key);
  if (const auto n = v.as_int()) return *n;
  wrong_type(key, v, "an integer that fits INT64");
}

float GgufFile::get_f32(std::string_view key) const {
  const GgufValue& v = need(key);
  if (const auto f = v.as_float()) return float(*f);
  wrong_type(key, v, "FLOAT32");
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = need(key);
  if (const auto* b = v.get_if<bool>()) return *b;
  wrong_type(key, v, "BOOL");
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = need(key);
  if (v.is_array() && v.array_type() == GgufType::STRING) return v.array_strings();
  wrong_type(key, v, "ARRAY of STRING");
}

std::vector<int32_t> GgufFile::get_i32_array(std::string_view key) const {
  const GgufValue& v = need(key);
  if (!v.is_array() || v.array_type() == GgufType::STRING || v.array_type() == GgufType::BOOL ||
      v.array_type() == GgufType::F32 || v.array_type() == GgufType::F64)
    wrong_type(key, v, "ARRAY of INT32");
  std::vector<int32_t> out;
  out.reserve(size_t(v.array_size()));
  const GgufType t = v.array_type();
  const size_t es = gguf_type_size(t);
  for (uint64_t i = 0; i < v.array_size(); ++i) {
    const uint8_t* p = v.array_raw().data() + i * es;
    int64_t x = 0;
    bool fits = true;
    switch (t) {
      case GgufType::U8: x = *p; break;
      case GgufType::I8: x = int8_t(*p); break;
      case GgufType::U16: { uint16_t u; std::memcpy(&u, p, 2); x = u; break; }
      case GgufType::I16: { int16_t u; std::memcpy(&u, p, 2); x = u; break; }
      case GgufType::U32: { uint32_t u; std::memcpy(&u, p, 4); x = u; break; }
      case GgufType::I32: { int32_t u; std::memcpy(&u, p, 4); x = u; break; }
      case GgufType::U64: { uint64_t u; std::memcpy(&u, p, 8); fits = u <= uint64_t(INT32_MAX); x = int64_t(fits ? u : 0); break; }
      case GgufType::I64: { std::memcpy(&x, p, 8); break; }
      default: fits = false;
    }
    if (!fits || x < INT32_MIN || x > INT32_MAX)
      throw Error(fmt::format("GGUF array '{}' item {} does not fit INT32", key, i)).at(path());
    out.push_back(int32_t(x));
  }
  return out;
}

std::vector<float> GgufFile::get_f32_array(std::string_view key) const {
  const GgufValue& v = need(key);
  if (v.is_array() && v.array_type() == GgufType::F32) return v.array_as<float>();
  wrong_type(key, v, "ARRAY of FLOAT32");
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::view(const GgufTensorInfo& t) const {
  return TensorView{const_cast<uint8_t*>(file_.data() + data_offset_ + t.offset), t.dtype, t.shape};
}

TensorView GgufFile::view(std::string_view name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) throw Error(fmt::format("tensor '{}' not found", name)).at(path());
  return view(*t);
}

uint64_t GgufFile::tensor_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += t.bytes;
  return n;
}

}  // namespace si
