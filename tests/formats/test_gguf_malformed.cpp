// GGUF: every kind of malformed file gives one clear si::Error naming the file (never a crash).
// Files are built byte by byte here, independently of GgufWriter.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_paths.h"

namespace si {
namespace {

struct TI {
  std::string name;
  std::vector<uint64_t> ne;  // ne0 first
  uint32_t type;
  uint64_t offset;
};

struct Spec {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors, n_kv;
  std::string key = "general.architecture";
  std::string value = "llama";
  std::optional<uint64_t> value_len;  // overrides the string length field
  std::optional<uint64_t> array_len;  // overrides the token array length field
  std::string token = "b";
  std::vector<std::pair<std::string, uint32_t>> extra_u32;  // more UINT32 keys
  // "a": F32 [2, 32] = 256 bytes at 0; "b": Q8_0 [32] = 34 bytes at 256 (padded to 320).
  std::vector<TI> tensors = {{"a", {32, 2}, 0, 0}, {"b", {32}, 8, 256}};
  uint64_t data_bytes = 320;
};

struct Bytes {
  std::string b;
  void u32(uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); }
  void str(const std::string& s, std::optional<uint64_t> len = {}) { u64(len.value_or(s.size())); b += s; }
};

std::string build(const Spec& s) {
  Bytes o;
  o.b += s.magic;
  o.u32(s.version);
  o.u64(s.n_tensors.value_or(s.tensors.size()));
  o.u64(s.n_kv.value_or(2 + s.extra_u32.size()));
  o.str(s.key);
  o.u32(8);  // STRING
  o.str(s.value, s.value_len);
  o.str("tokenizer.ggml.tokens");
  o.u32(9);  // ARRAY
  o.u32(8);  // of STRING
  o.u64(s.array_len.value_or(2));
  o.str("a");
  o.str(s.token);
  for (const auto& [k, v] : s.extra_u32) {
    o.str(k);
    o.u32(4);
    o.u32(v);
  }
  for (const auto& t : s.tensors) {
    o.str(t.name);
    o.u32(uint32_t(t.ne.size()));
    for (uint64_t d : t.ne) o.u64(d);
    o.u32(t.type);
    o.u64(t.offset);
  }
  o.b.resize((o.b.size() + 31) / 32 * 32, '\0');
  for (uint64_t i = 0; i < s.data_bytes; ++i) o.b.push_back(char(i * 7));
  return o.b;
}

// Plain writes (no fsync): the truncation sweep writes hundreds of files.
std::string write_tmp(const std::string& bytes) {
  static std::string dir;
  static const void* owner = nullptr;
  const void* now = ::testing::UnitTest::GetInstance()->current_test_info();
  if (owner != now) dir = test::temp_dir().string(), owner = now;
  const std::string path = dir + "/bad.gguf";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

// Opens the bytes and returns the error message ("" when it opened).
std::string open_error(const std::string& bytes) {
  const std::string path = write_tmp(bytes);
  try {
    GgufFile::open(path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error is not one line: " << msg;
    EXPECT_EQ(msg.rfind(path, 0), 0u) << "error does not start with the path: " << msg;
    return msg;
  }
  return "";
}

#define EXPECT_GGUF_ERROR(bytes, substring)                                         \
  do {                                                                               \
    const std::string msg_ = open_error(bytes);                                      \
    EXPECT_NE(msg_.find(substring), std::string::npos) << "got: '" << msg_ << "'";   \
  } while (0)

TEST(GgufMalformed, TheBaseFileIsValid) {
  const std::string path = write_tmp(build(Spec{}));
  const GgufFile g = GgufFile::open(path);
  ASSERT_EQ(g.tensors().size(), 2u);
  EXPECT_EQ(g.tensors()[1].dtype, DType::Q8_0);
  EXPECT_EQ(g.tensors()[1].bytes, 34u);
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.tokens").size(), 2u);
}

TEST(GgufMalformed, VersionTwoReads) {
  Spec s;
  s.version = 2;
  const GgufFile g = GgufFile::open(write_tmp(build(s)));
  EXPECT_EQ(g.version(), 2u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
}

TEST(GgufMalformed, TruncatedAtEveryCutPoint) {
  const std::string full = build(Spec{});
  const size_t needed = full.size() - 320 + 256 + 34;  // the last tensor's padding may go
  const size_t data_start = full.size() - 320;
  // Every cut through the header and tensor infos; through the data, every 16th and the last byte.
  for (size_t cut = 0; cut < needed; cut += cut < data_start || cut + 16 >= needed ? 1 : 16) {
    const std::string msg = open_error(full.substr(0, cut));
    ASSERT_FALSE(msg.empty()) << "cut at " << cut << " opened";
    const bool says = msg.find("truncated") != std::string::npos || msg.find("past the end") != std::string::npos ||
                      msg.find("cannot fit") != std::string::npos || msg.find("more than the") != std::string::npos;
    EXPECT_TRUE(says) << "cut at " << cut << ": " << msg;
  }
  EXPECT_EQ(open_error(full.substr(0, needed)), "");
}

TEST(GgufMalformed, WrongMagic) {
  Spec s;
  s.magic = "GGML";
  EXPECT_GGUF_ERROR(build(s), "not a GGUF file: magic is 47 47 4d 4c");
  EXPECT_GGUF_ERROR(std::string("{\"a\": 1}   "), "not a GGUF file");
  EXPECT_GGUF_ERROR(std::string(), "file truncated");
}

TEST(GgufMalformed, UnknownVersion) {
  Spec s;
  s.version = 4;
  EXPECT_GGUF_ERROR(build(s), "unknown GGUF version 4");
  s.version = 1;
  EXPECT_GGUF_ERROR(build(s), "GGUF version 1 is not supported");
}

TEST(GgufMalformed, TensorDataPastEndOfFile) {
  Spec s;
  s.data_bytes = 200;  // "a" needs 256
  EXPECT_GGUF_ERROR(build(s), "tensor 'a' data (256 bytes at data offset 0) runs past the end of the file");
  Spec t;
  t.tensors[1].offset = uint64_t(1) << 40;
  EXPECT_GGUF_ERROR(build(t), "tensor 'b' data");
  Spec u;
  u.tensors[1].offset = ~uint64_t(31);  // offset + bytes would wrap around
  EXPECT_GGUF_ERROR(build(u), "past the end");
}

TEST(GgufMalformed, OverflowingCounts) {
  Spec s;
  s.n_tensors = uint64_t(1) << 62;
  EXPECT_GGUF_ERROR(build(s), "tensor count 4611686018427387904 cannot fit");
  Spec k;
  k.n_kv = ~uint64_t(0);
  EXPECT_GGUF_ERROR(build(k), "metadata count 18446744073709551615 cannot fit");
  Spec a;
  a.array_len = uint64_t(1) << 61;
  EXPECT_GGUF_ERROR(build(a), "claims 2305843009213693952 items of STRING, which cannot fit");
  Spec v;
  v.value_len = ~uint64_t(0) - 3;
  EXPECT_GGUF_ERROR(build(v), "value of key 'general.architecture' has length 18446744073709551612, more than the");
  Spec m;  // more KV pairs claimed than present: runs into the tensor infos and fails there
  m.n_kv = 5;
  EXPECT_FALSE(open_error(build(m)).empty());
}

TEST(GgufMalformed, NonUtf8Strings) {
  Spec k;
  k.key = "general.\xc3\x28";
  EXPECT_GGUF_ERROR(build(k), "key of metadata entry 0 is not valid UTF-8");
  Spec v;
  v.value = "ll\xed\xa0\x80ma";  // a UTF-16 surrogate
  EXPECT_GGUF_ERROR(build(v), "value of key 'general.architecture' is not valid UTF-8");
  Spec a;
  a.token = "\xf8\x88\x80\x80\x80";
  EXPECT_GGUF_ERROR(build(a), "array of key 'tokenizer.ggml.tokens' item 1 is not valid UTF-8");
  Spec o;
  o.value = "\xc0\xaf";  // overlong '/'
  EXPECT_GGUF_ERROR(build(o), "not valid UTF-8");
  Spec t;
  t.tensors[0].name = "a\xff";
  EXPECT_GGUF_ERROR(build(t), "name of tensor 0 is not valid UTF-8");
}

TEST(GgufMalformed, TooManyDimensions) {
  Spec s;
  s.tensors[0].ne = {32, 2, 1, 1, 1};
  EXPECT_GGUF_ERROR(build(s), "tensor 'a' has 5 dimensions (1..4 allowed)");
  s.tensors[0].ne = {};
  EXPECT_GGUF_ERROR(build(s), "tensor 'a' has 0 dimensions");
}

TEST(GgufMalformed, ZeroOrOverflowingDims) {
  Spec z;
  z.tensors[0].ne = {32, 0};
  EXPECT_GGUF_ERROR(build(z), "tensor 'a' dimension 1 is 0");
  Spec o;
  o.tensors[0].ne = {uint64_t(1) << 32, uint64_t(1) << 32};
  EXPECT_GGUF_ERROR(build(o), "tensor 'a' dimension 1 is 4294967296 (zero, or the element count overflows)");
  Spec n;
  n.tensors[0].ne = {~uint64_t(0)};
  EXPECT_GGUF_ERROR(build(n), "dimension 0 is 18446744073709551615");
}

TEST(GgufMalformed, MisalignedTensorOffset) {
  Spec s;
  s.tensors[1].offset = 260;
  EXPECT_GGUF_ERROR(build(s), "tensor 'b' offset 260 is not a multiple of the alignment 32");
  Spec a;  // with general.alignment = 512, offset 256 is misaligned
  a.extra_u32 = {{"general.alignment", 512}};
  EXPECT_GGUF_ERROR(build(a), "tensor 'b' offset 256 is not a multiple of the alignment 512");
  Spec b;
  b.extra_u32 = {{"general.alignment", 24}};
  EXPECT_GGUF_ERROR(build(b), "general.alignment must be a UINT32 power of two");
}

TEST(GgufMalformed, OverlappingTensors) {
  Spec s;
  s.tensors[1].offset = 224;
  EXPECT_GGUF_ERROR(build(s), "tensors 'a' and 'b' overlap");
}

TEST(GgufMalformed, DuplicateNames) {
  Spec s;
  s.tensors[1].name = "a";
  EXPECT_GGUF_ERROR(build(s), "duplicate tensor name 'a'");
  Spec k;
  k.extra_u32 = {{"x", 1}, {"x", 2}};
  EXPECT_GGUF_ERROR(build(k), "duplicate metadata key 'x'");
}

TEST(GgufMalformed, RowNotMultipleOfBlockSize) {
  Spec s;
  s.tensors[1].ne = {16};
  EXPECT_GGUF_ERROR(build(s), "tensor 'b' row length 16 is not a multiple of the Q8_0 block size 32");
}

TEST(GgufMalformed, UnknownTensorType) {
  Spec s;
  s.tensors[1].type = 99;
  EXPECT_GGUF_ERROR(build(s), "tensor 'b' has unsupported ggml type id 99");
}

TEST(GgufMalformed, BadValueType) {
  std::string b = build(Spec{});
  // The first KV's type id sits after magic+version+counts (24) and the key (8 + 20 bytes).
  ASSERT_EQ(b.substr(32, 20), "general.architecture");
  b[52] = 13;
  EXPECT_GGUF_ERROR(b, "type of key 'general.architecture' has invalid GGUF value type 13");
}

}  // namespace
}  // namespace si
