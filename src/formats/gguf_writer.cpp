// GgufWriter: byte layout of llama.cpp's gguf_write_to_buf / gguf-py's GGUFWriter.
#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_codec.h"

namespace si {

bool utf8_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

void gguf_encode_value(std::string& out, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::U8: gguf_put(out, *v.get_if<uint8_t>()); break;
    case GgufType::I8: gguf_put(out, *v.get_if<int8_t>()); break;
    case GgufType::U16: gguf_put(out, *v.get_if<uint16_t>()); break;
    case GgufType::I16: gguf_put(out, *v.get_if<int16_t>()); break;
    case GgufType::U32: gguf_put(out, *v.get_if<uint32_t>()); break;
    case GgufType::I32: gguf_put(out, *v.get_if<int32_t>()); break;
    case GgufType::F32: gguf_put(out, *v.get_if<float>()); break;
    case GgufType::BOOL: gguf_put<uint8_t>(out, *v.get_if<bool>() ? 1 : 0); break;
    case GgufType::STRING: gguf_put_string(out, *v.get_if<std::string>()); break;
    case GgufType::U64: gguf_put(out, *v.get_if<uint64_t>()); break;
    case GgufType::I64: gguf_put(out, *v.get_if<int64_t>()); break;
    case GgufType::F64: gguf_put(out, *v.get_if<double>()); break;
    case GgufType::ARRAY:
      gguf_put<uint32_t>(out, uint32_t(v.array_type()));
      gguf_put<uint64_t>(out, v.array_size());
      if (v.array_type() == GgufType::STRING) {
        for (const auto& s : v.array_strings()) gguf_put_string(out, s);
      } else {
        gguf_put_bytes(out, v.array_raw().data(), v.array_raw().size());
      }
      break;
  }
}

namespace {

uint64_t pad_to(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

void check_value(const std::string& key, const GgufValue& v) {
  if (const auto* s = v.get_if<std::string>())
    SI_CHECK(utf8_valid(*s), "GGUF value of key '{}' is not valid UTF-8", key);
  if (v.is_array() && v.array_type() == GgufType::STRING)
    for (size_t i = 0; i < v.array_strings().size(); ++i)
      SI_CHECK(utf8_valid(v.array_strings()[i]), "GGUF array '{}' item {} is not valid UTF-8", key, i);
  SI_CHECK(!(v.is_array() && v.array_type() == GgufType::ARRAY), "GGUF key '{}': arrays of arrays are not supported", key);
  if (v.type() != GgufType::ARRAY && v.type() != GgufType::STRING)
    SI_CHECK(v.get_if<std::monostate>() == nullptr, "GGUF key '{}' has no value", key);
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  SI_CHECK(!key.empty() && utf8_valid(key), "GGUF key '{}' must be non-empty UTF-8", key);
  check_value(key, value);
  if (key == "general.alignment") {
    const auto a = value.as_int();
    SI_CHECK(value.type() == GgufType::U32 && a && *a > 0 && (*a & (*a - 1)) == 0,
             "general.alignment must be a UINT32 power of two, got {}", value.to_string());
    alignment_ = uint32_t(*a);
  }
  for (auto& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kv_.push_back({key, std::move(value)});
}

bool GgufWriter::remove(const std::string& key) {
  for (size_t i = 0; i < kv_.size(); ++i) {
    if (kv_[i].key == key) {
      kv_.erase(kv_.begin() + ptrdiff_t(i));
      if (key == "general.alignment") alignment_ = 32;
      return true;
    }
  }
  return false;
}

const GgufValue* GgufWriter::find(std::string_view key) const {
  for (const auto& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

void GgufWriter::add_tensor(std::string name, DType dtype, Shape shape, const void* data) {
  SI_CHECK(data != nullptr, "GGUF tensor '{}': null data", name);
  add_tensor(std::move(name), dtype, std::move(shape), Source{});
  tensors_.back().data = data;
}

void GgufWriter::add_tensor(std::string name, DType dtype, Shape shape, Source source) {
  // llama.cpp's limits: names shorter than GGML_MAX_NAME (64), at most 4 dimensions.
  SI_CHECK(!name.empty() && name.size() < 64 && utf8_valid(name),
           "GGUF tensor name '{}' must be 1..63 bytes of UTF-8", name);
  SI_CHECK(!tensor_names_.count(name), "GGUF tensor '{}' added twice", name);
  SI_CHECK(!shape.empty() && shape.size() <= 4, "GGUF tensor '{}': {} dimensions (1..4 allowed)", name, shape.size());
  SI_CHECK(dtype_info(dtype).ggml_type >= 0, "GGUF tensor '{}': dtype {} has no GGUF type id", name, dtype_name(dtype));
  int64_t numel = 1;
  for (int64_t d : shape) {
    SI_CHECK(d > 0 && numel <= INT64_MAX / d, "GGUF tensor '{}': bad shape {}", name, shape_str(shape));
    numel *= d;
  }
  const int64_t bs = dtype_block_size(dtype);
  SI_CHECK(shape.back() % bs == 0, "GGUF tensor '{}': row length {} is not a multiple of the {} block size {}",
           name, shape.back(), dtype_name(dtype), bs);
  Entry e;
  e.info.name = name;
  e.info.dtype = dtype;
  e.info.shape = std::move(shape);
  e.info.bytes = dtype_row_bytes(dtype, uint64_t(e.info.shape.back())) * uint64_t(numel / e.info.shape.back());
  e.data = nullptr;
  e.source = std::move(source);
  tensor_names_[name] = tensors_.size();
  tensors_.push_back(std::move(e));
}

void GgufWriter::write(const std::string& path) const {
  const uint64_t align = alignment_;
  std::string head;
  gguf_put_bytes(head, "GGUF", 4);
  gguf_put<uint32_t>(head, 3);
  gguf_put<uint64_t>(head, tensors_.size());
  gguf_put<uint64_t>(head, kv_.size());
  for (const auto& kv : kv_) {
    gguf_put_string(head, kv.key);
    gguf_put<uint32_t>(head, uint32_t(kv.value.type()));
    gguf_encode_value(head, kv.value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    gguf_put_string(head, t.info.name);
    gguf_put<uint32_t>(head, uint32_t(t.info.shape.size()));
    for (size_t j = t.info.shape.size(); j-- > 0;) gguf_put<uint64_t>(head, uint64_t(t.info.shape[j]));  // ne0 first
    gguf_put<uint32_t>(head, uint32_t(dtype_info(t.info.dtype).ggml_type));
    gguf_put<uint64_t>(head, offset);
    offset += pad_to(t.info.bytes, align);
  }
  head.resize(pad_to(head.size(), align), '\0');

  AtomicFile out(path);
  out.write(head);
  for (const auto& t : tensors_) {
    const uint64_t start = out.bytes_written();
    if (t.data) {
      out.write(t.data, t.info.bytes);
    } else {
      t.source([&](const void* p, size_t n) {
        SI_CHECK(out.bytes_written() - start + n <= t.info.bytes, "GGUF tensor '{}': source gave more than {} bytes",
                 t.info.name, t.info.bytes);
        out.write(p, n);
      });
      const uint64_t got = out.bytes_written() - start;
      SI_CHECK(got == t.info.bytes, "GGUF tensor '{}': source gave {} bytes, expected {}", t.info.name, got, t.info.bytes);
    }
    out.write_zeros(pad_to(t.info.bytes, align) - t.info.bytes);
  }
  out.commit();
}

}  // namespace si
