// quant/gptq_pack.h: the AutoGPTQ checkpoint layout — bit positions against hand-written words,
// pack/unpack round trips (4/8 bits, v1/v2, grouped, per-channel, act-order g_idx) and dequantization.
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "quant/gptq_pack.h"

namespace si {
namespace {

GptqUnpacked random_unpacked(GptqLayout l, uint32_t seed, bool shuffle_g_idx) {
  std::mt19937 rng(seed);
  const int maxq = (1 << l.bits) - 1;
  GptqUnpacked u;
  u.layout = l;
  const int64_t G = l.n_groups();
  for (int64_t k = 0; k < l.out * l.in; ++k) u.q.push_back(uint8_t(rng() % uint32_t(maxq + 1)));
  for (int64_t k = 0; k < G * l.out; ++k) {
    u.zero.push_back(int32_t(1 + rng() % uint32_t(maxq)));  // 1..maxq: storable in v1 and v2
    u.scale.push_back(f32_to_f16(0.001f + 0.01f * float(rng() % 1000) / 1000.0f));
  }
  for (int64_t i = 0; i < l.in; ++i) u.g_idx.push_back(int32_t(l.group_of(i)));
  if (shuffle_g_idx) std::shuffle(u.g_idx.begin(), u.g_idx.end(), rng);
  return u;
}

TEST(GptqPack, ShapesFollowTheCheckpointLayout) {
  const GptqLayout l{4, 128, 2048, 512};
  EXPECT_EQ(l.qweight_shape(), (Shape{256, 512}));  // in / 8 rows: packed along the input dimension
  EXPECT_EQ(l.qzeros_shape(), (Shape{16, 64}));     // (groups, out / 8)
  EXPECT_EQ(l.scales_shape(), (Shape{16, 512}));
  EXPECT_EQ(l.g_idx_shape(), (Shape{2048}));
  const GptqLayout l8{8, -1, 2048, 512};
  EXPECT_EQ(l8.qweight_shape(), (Shape{512, 512}));  // 4 codes per int32
  EXPECT_EQ(l8.qzeros_shape(), (Shape{1, 128}));
  EXPECT_EQ(GptqLayout({4, 96, 200, 8}).n_groups(), 3);  // ceil(in / group_size)
}

TEST(GptqPack, BitPositionsMatchAutoGptq) {
  // qweight word (r, o) |= code(input r*8 + j) << (4 j); qzeros word (g, c) |= (zero(output c*8 + j) - 1) << (4 j).
  GptqUnpacked u;
  u.layout = {4, -1, 8, 8};
  for (int o = 0; o < 8; ++o)
    for (int i = 0; i < 8; ++i) u.q.push_back(uint8_t((i + o) % 16));
  for (int o = 0; o < 8; ++o) u.zero.push_back(o + 1);
  u.scale.assign(8, f32_to_f16(1.0f));
  u.g_idx.assign(8, 0);
  const GptqPacked v1 = gptq_pack(u, GptqFormat::v1);
  EXPECT_EQ(uint32_t(v1.qweight[0]), 0x76543210u);  // output 0: codes 0..7
  EXPECT_EQ(uint32_t(v1.qweight[1]), 0x87654321u);  // output 1: codes 1..8
  EXPECT_EQ(uint32_t(v1.qzeros[0]), 0x76543210u);   // zeros 1..8 stored minus one
  const GptqPacked v2 = gptq_pack(u, GptqFormat::v2);
  EXPECT_EQ(uint32_t(v2.qzeros[0]), 0x87654321u);   // v2 stores the zero point itself

  GptqUnpacked u8 = u;
  u8.layout.bits = 8;
  const GptqPacked p8 = gptq_pack(u8, GptqFormat::v1);
  ASSERT_EQ(p8.qweight.size(), 2u * 8u);
  EXPECT_EQ(uint32_t(p8.qweight[0]), 0x03020100u);      // word (0, 0): inputs 0..3 of output 0
  EXPECT_EQ(uint32_t(p8.qweight[8 + 1]), 0x08070605u);  // word (1, 1): inputs 4..7 of output 1
  EXPECT_EQ(uint32_t(p8.qzeros[1]), 0x07060504u);       // outputs 4..7, zeros 5..8 minus one
}

TEST(GptqPack, RoundTrips) {
  for (int bits : {4, 8})
    for (int gs : {32, 128, -1})
      for (bool act : {false, true})
        for (GptqFormat f : {GptqFormat::v1, GptqFormat::v2}) {
          SCOPED_TRACE(testing::Message() << bits << " bits, group " << gs << (act ? " act-order " : " ") << gptq_format_name(f));
          const GptqUnpacked u = random_unpacked({bits, gs, 256, 64}, uint32_t(bits * 1000 + gs + act), act);
          const GptqPacked p = gptq_pack(u, f);
          EXPECT_EQ(int64_t(p.qweight.size()), p.layout.qweight_shape()[0] * p.layout.qweight_shape()[1]);
          EXPECT_EQ(int64_t(p.qzeros.size()), p.layout.qzeros_shape()[0] * p.layout.qzeros_shape()[1]);
          const GptqUnpacked back = gptq_unpack(p.view(), f);
          EXPECT_EQ(back.q, u.q);
          EXPECT_EQ(back.zero, u.zero);
          EXPECT_EQ(back.scale, u.scale);
          EXPECT_EQ(back.g_idx, u.g_idx);
        }
}

TEST(GptqPack, DequantizeUsesGIdxAndTheZeroConvention) {
  for (GptqFormat f : {GptqFormat::v1, GptqFormat::v2}) {
    const GptqUnpacked u = random_unpacked({4, 32, 128, 16}, 7, /*shuffle_g_idx=*/true);
    const GptqPacked p = gptq_pack(u, f);
    std::vector<float> w(size_t(16 * 128));
    gptq_dequantize(p.view(), f, 0, 16, w.data());
    std::vector<uint16_t> w16(w.size());
    gptq_dequantize_f16(p.view(), f, 0, 16, w16.data());
    for (int64_t o = 0; o < 16; ++o)
      for (int64_t i = 0; i < 128; ++i) {
        const int64_t g = u.g_idx[size_t(i)];
        const float want = f16_to_f32(u.scale[size_t(g * 16 + o)]) *
                           float(int(u.q[size_t(o * 128 + i)]) - u.zero[size_t(g * 16 + o)]);
        ASSERT_EQ(w[size_t(o * 128 + i)], want) << o << "," << i;
        ASSERT_EQ(w16[size_t(o * 128 + i)], f32_to_f16(want));
      }
    // A row range gives the same rows.
    std::vector<float> part(size_t(5 * 128));
    gptq_dequantize(p.view(), f, 3, 8, part.data());
    EXPECT_TRUE(std::equal(part.begin(), part.end(), w.begin() + 3 * 128));
  }
}

TEST(GptqPack, RejectsWhatTheFormatCannotHold) {
  GptqUnpacked u = random_unpacked({4, 32, 64, 8}, 3, false);
  u.zero[5] = 0;  // v1 stores zero - 1
  EXPECT_THROW(gptq_pack(u, GptqFormat::v1), Error);
  EXPECT_NO_THROW(gptq_pack(u, GptqFormat::v2));
  u.zero[5] = 3;
  u.q[9] = 16;
  EXPECT_THROW(gptq_pack(u, GptqFormat::v1), Error);
  u.q[9] = 1;
  u.g_idx[4] = 2;  // 64 / 32 = 2 groups
  EXPECT_THROW(gptq_pack(u, GptqFormat::v1), Error);
  EXPECT_THROW(GptqLayout({3, 32, 64, 8}).validate("x"), Error);
  EXPECT_THROW(GptqLayout({4, 0, 64, 8}).validate("x"), Error);
  EXPECT_THROW(GptqLayout({4, 32, 60, 8}).validate("x"), Error);  // 60 not a multiple of 8
  EXPECT_THROW(gptq_format_from_name("marlin"), Error);
}

TEST(GptqPack, CheckGIdxFindsTheFirstBadEntry) {
  GptqUnpacked u = random_unpacked({4, 32, 64, 8}, 4, false);
  GptqPacked p = gptq_pack(u, GptqFormat::v1);
  EXPECT_EQ(gptq_check_g_idx(p.view()), -1);
  p.g_idx[17] = -1;
  p.g_idx[40] = 99;
  EXPECT_EQ(gptq_check_g_idx(p.view()), 17);
}

}  // namespace
}  // namespace si
