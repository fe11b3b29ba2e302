#include "quant/gptq_pack.h"

#include <algorithm>

#include "core/error.h"
#include "core/half.h"

namespace si {

GptqFormat gptq_format_from_name(const std::string& name) {
  if (name == "gptq") return GptqFormat::v1;
  if (name == "gptq_v2") return GptqFormat::v2;
  fail("GPTQ checkpoint format '{}' is not supported (expected \"gptq\" or \"gptq_v2\")", name);
}

const char* gptq_format_name(GptqFormat f) { return f == GptqFormat::v1 ? "gptq" : "gptq_v2"; }

void GptqLayout::validate(const std::string& what) const {
  SI_CHECK(bits == 4 || bits == 8, "{}: {}-bit GPTQ is not supported (4 or 8)", what, bits);
  SI_CHECK(group_size == -1 || group_size > 0, "{}: group_size {} must be -1 (per-channel) or positive", what,
           group_size);
  SI_CHECK(in > 0 && out > 0, "{}: empty layer ({} x {})", what, out, in);
  SI_CHECK(in % per_word() == 0, "{}: in_features {} is not a multiple of {} ({} codes per int32)", what, in,
           per_word(), per_word());
  SI_CHECK(out % per_word() == 0, "{}: out_features {} is not a multiple of {} (zero points per int32)", what, out,
           per_word());
}

namespace {

// The offset a reader adds to a stored zero point.
int32_t zero_offset(GptqFormat f) { return f == GptqFormat::v1 ? 1 : 0; }

}  // namespace

GptqPacked gptq_pack(const GptqUnpacked& u, GptqFormat format) {
  const GptqLayout& l = u.layout;
  l.validate("gptq_pack");
  const int64_t G = l.n_groups(), P = l.per_word();
  const uint32_t mask = (1u << l.bits) - 1;
  SI_CHECK(int64_t(u.q.size()) == l.out * l.in && int64_t(u.zero.size()) == G * l.out &&
               int64_t(u.scale.size()) == G * l.out && int64_t(u.g_idx.size()) == l.in,
           "gptq_pack: sizes q {} zero {} scale {} g_idx {} do not match out {} in {} groups {}", u.q.size(),
           u.zero.size(), u.scale.size(), u.g_idx.size(), l.out, l.in, G);
  GptqPacked p;
  p.layout = l;
  p.qweight.assign(size_t(l.in / P * l.out), 0);
  p.qzeros.assign(size_t(G * (l.out / P)), 0);
  p.scales = u.scale;
  p.g_idx = u.g_idx;
  for (int64_t o = 0; o < l.out; ++o) {
    const uint8_t* qo = u.q.data() + o * l.in;
    for (int64_t r = 0; r < l.in / P; ++r) {
      uint32_t word = 0;
      for (int64_t j = 0; j < P; ++j) {
        const uint32_t c = qo[r * P + j];
        SI_CHECK(c <= mask, "gptq_pack: code {} at ({}, {}) does not fit {} bits", c, o, r * P + j, l.bits);
        word |= c << (l.bits * j);
      }
      p.qweight[size_t(r * l.out + o)] = int32_t(word);
    }
  }
  const int32_t off = zero_offset(format);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t o = 0; o < l.out; ++o) {
      // v1 stores zero - 1: a zero point of 0 cannot be written (AutoGPTQ's pack wraps it to all ones).
      const int32_t z = u.zero[size_t(g * l.out + o)] - off;
      SI_CHECK(z >= 0 && uint32_t(z) <= mask, "gptq_pack: zero point {} of group {} output {} cannot be stored in {} format",
               z + off, g, o, gptq_format_name(format));
      uint32_t& w = reinterpret_cast<uint32_t&>(p.qzeros[size_t(g * (l.out / P) + o / P)]);
      w |= uint32_t(z) << (l.bits * (o % P));
    }
  for (int64_t i = 0; i < l.in; ++i)
    SI_CHECK(u.g_idx[size_t(i)] >= 0 && u.g_idx[size_t(i)] < G, "gptq_pack: g_idx[{}] = {} outside [0, {})", i,
             u.g_idx[size_t(i)], G);
  return p;
}

GptqUnpacked gptq_unpack(const GptqView& p, GptqFormat format) {
  const GptqLayout& l = p.layout;
  l.validate("gptq_unpack");
  const int64_t G = l.n_groups(), P = l.per_word();
  const uint32_t mask = (1u << l.bits) - 1;
  GptqUnpacked u;
  u.layout = l;
  u.q.resize(size_t(l.out * l.in));
  u.zero.resize(size_t(G * l.out));
  u.scale.assign(p.scales, p.scales + G * l.out);
  u.g_idx.assign(p.g_idx, p.g_idx + l.in);
  for (int64_t r = 0; r < l.in / P; ++r)
    for (int64_t o = 0; o < l.out; ++o) {
      const uint32_t word = uint32_t(p.qweight[r * l.out + o]);
      for (int64_t j = 0; j < P; ++j) u.q[size_t(o * l.in + r * P + j)] = uint8_t((word >> (l.bits * j)) & mask);
    }
  const int32_t off = zero_offset(format);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t o = 0; o < l.out; ++o) {
      const uint32_t word = uint32_t(p.qzeros[g * (l.out / P) + o / P]);
      u.zero[size_t(g * l.out + o)] = int32_t((word >> (l.bits * (o % P))) & mask) + off;
    }
  return u;
}

int64_t gptq_check_g_idx(const GptqView& p) {
  const int64_t G = p.layout.n_groups();
  for (int64_t i = 0; i < p.layout.in; ++i)
    if (p.g_idx[i] < 0 || p.g_idx[i] >= G) return i;
  return -1;
}

namespace {

// Dequantizes rows [rb, re) in tiles of kTile outputs: the zero points and scales of a tile are
// unpacked once (G x kTile), then each qweight row is read contiguously across the tile.
template <typename Store>
void dequantize_rows(const GptqView& p, GptqFormat format, int64_t rb, int64_t re, const Store& store) {
  const GptqLayout& l = p.layout;
  const int64_t G = l.n_groups(), P = l.per_word();
  const uint32_t mask = (1u << l.bits) - 1;
  const int32_t off = zero_offset(format);
  constexpr int64_t kTile = 16;
  std::vector<float> zs(size_t(G * kTile)), sc(size_t(G * kTile));  // (G, tile)
  for (int64_t o0 = rb; o0 < re; o0 += kTile) {
    const int64_t n = std::min(kTile, re - o0);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t t = 0; t < n; ++t) {
        const int64_t o = o0 + t;
        const uint32_t word = uint32_t(p.qzeros[g * (l.out / P) + o / P]);
        zs[size_t(g * kTile + t)] = float(int32_t((word >> (l.bits * (o % P))) & mask) + off);
        sc[size_t(g * kTile + t)] = f16_to_f32(p.scales[g * l.out + o]);
      }
    for (int64_t r = 0; r < l.in / P; ++r) {
      const int32_t* row = p.qweight + r * l.out + o0;
      for (int64_t j = 0; j < P; ++j) {
        const int64_t i = r * P + j;
        const int64_t g = p.g_idx[i];
        const float* z = zs.data() + g * kTile;
        const float* s = sc.data() + g * kTile;
        for (int64_t t = 0; t < n; ++t) {
          const float code = float((uint32_t(row[t]) >> (l.bits * j)) & mask);
          store((o0 + t - rb) * l.in + i, (code - z[t]) * s[t]);
        }
      }
    }
  }
}

}  // namespace

void gptq_dequantize(const GptqView& p, GptqFormat format, int64_t row_begin, int64_t row_end, float* w) {
  dequantize_rows(p, format, row_begin, row_end, [w](int64_t k, float v) { w[k] = v; });
}

void gptq_dequantize_f16(const GptqView& p, GptqFormat format, int64_t row_begin, int64_t row_end, uint16_t* w) {
  dequantize_rows(p, format, row_begin, row_end, [w](int64_t k, float v) { w[k] = f32_to_f16(v); });
}

}  // namespace si
