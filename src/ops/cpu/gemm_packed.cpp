// The 16-row interleaved layouts of ops/cpu/gemm_packed.h: packing a group, reading one element
// back, quantizing activations for the kernels, and the choice of kernel table per ISA.
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/quant_blocks.h"
#include "ops/cpu/gemm_packed.h"
#include "ops/cpu/quants.h"
#include "ops/cpu/quants_impl.h"

namespace si::cpu {
namespace {

// The 256 six-bit values (0..63) of a Q6_K block in element order.
void q6_values(const block_q6_K& b, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      q[128 * h + l] = uint8_t((ql[l] & 0xF) | ((qh[l] & 3) << 4));
      q[128 * h + 32 + l] = uint8_t((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      q[128 * h + 64 + l] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      q[128 * h + 96 + l] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

// Row `lane` of one block of a group: meta at `meta`, quants at `quant`, from file block `src`.
void pack_q8_0(const block_q8_0& blk, int lane, uint8_t* meta, uint8_t* quant) {
  std::memcpy(meta + 2 * lane, &blk.d, 2);
  for (int c = 0; c < 8; ++c)
    for (int j = 0; j < 4; ++j) quant[64 * c + 4 * lane + j] = uint8_t(blk.qs[4 * c + j] + 128);
}

void pack_q4_0(const block_q4_0& blk, int lane, uint8_t* meta, uint8_t* quant) {
  std::memcpy(meta + 2 * lane, &blk.d, 2);
  for (int c = 0; c < 4; ++c) std::memcpy(quant + 64 * c + 4 * lane, blk.qs + 4 * c, 4);
}

void pack_q6_K(const block_q6_K& blk, int lane, uint8_t* meta, uint8_t* quant) {
  std::memcpy(meta + 2 * lane, &blk.d, 2);
  for (int s = 0; s < 16; ++s) meta[32 + 16 * s + lane] = uint8_t(blk.scales[s]);
  uint8_t q[256];
  q6_values(blk, q);
  for (int s = 0; s < 16; ++s) {
    uint8_t* sub = quant + 192 * s;
    for (int c = 0; c < 4; ++c)
      for (int j = 0; j < 4; ++j) {
        const uint8_t v = q[16 * s + 4 * c + j];
        const int pos = 4 * lane + j;
        sub[64 * (c / 2) + pos] |= uint8_t((v & 0xF) << (4 * (c % 2)));
        sub[128 + pos] |= uint8_t((v >> 4) << (2 * c));
      }
  }
}

// Q4_K / Q5_K: d, dmin, the 12 scale bytes transposed; qs bytes 4 at a time; Q5_K's qh likewise.
template <typename Block>
void pack_q45_K(const Block& blk, int lane, uint8_t* meta, uint8_t* quant) {
  std::memcpy(meta + 2 * lane, &blk.d, 2);
  std::memcpy(meta + 32 + 2 * lane, &blk.dmin, 2);
  for (int j = 0; j < 12; ++j) meta[64 + 16 * j + lane] = blk.scales[j];
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 8; ++c) std::memcpy(quant + 512 * p + 64 * c + 4 * lane, blk.qs + 32 * p + 4 * c, 4);
  if constexpr (std::is_same_v<Block, block_q5_K>)
    for (int c = 0; c < 8; ++c) std::memcpy(quant + 2048 + 64 * c + 4 * lane, blk.qh + 4 * c, 4);
}

template <typename Block>
void pack_rows(DType t, const uint8_t* row, int64_t nb, int lane, uint8_t* meta0, uint8_t* quant0,
               void (*pack)(const Block&, int, uint8_t*, uint8_t*)) {
  const PackedLayout l = packed_layout(t);
  for (int64_t b = 0; b < nb; ++b) {
    Block x;
    std::memcpy(&x, row + uint64_t(b) * sizeof(Block), sizeof x);
    pack(x, lane, meta0 + b * l.meta, quant0 + b * l.quant);
  }
}

}  // namespace

void pack_group(DType t, const uint8_t* src, uint64_t row_bytes, int64_t n_rows, int64_t K, int64_t g, uint8_t* dst) {
  const PackedLayout l = packed_layout(t);
  SI_CHECK(l.block > 0, "pack_group: no packed layout for {}", dtype_name(t));
  const int64_t nb = K / l.block;
  uint8_t* quants = dst + packed_meta_bytes(t, K);
  for (int lane = 0; lane < kPackRows && g * kPackRows + lane < n_rows; ++lane) {
    const uint8_t* row = src + uint64_t(g * kPackRows + lane) * row_bytes;
    switch (t) {
      case DType::Q8_0: pack_rows<block_q8_0>(t, row, nb, lane, dst, quants, pack_q8_0); break;
      case DType::Q4_0: pack_rows<block_q4_0>(t, row, nb, lane, dst, quants, pack_q4_0); break;
      case DType::Q6_K: pack_rows<block_q6_K>(t, row, nb, lane, dst, quants, pack_q6_K); break;
      case DType::Q4_K: pack_rows<block_q4_K>(t, row, nb, lane, dst, quants, pack_q45_K<block_q4_K>); break;
      default: pack_rows<block_q5_K>(t, row, nb, lane, dst, quants, pack_q45_K<block_q5_K>); break;
    }
  }
}

float packed_value(DType t, const uint8_t* packed, int64_t K, int64_t r, int64_t k) {
  const PackedLayout l = packed_layout(t);
  const uint8_t* gw = packed + uint64_t(r / kPackRows) * packed_group_bytes(t, K);
  const int lane = int(r % kPackRows);
  const int64_t b = k / l.block;
  const int e = int(k % l.block);
  const uint8_t* meta = gw + b * l.meta;
  const uint8_t* quant = gw + packed_meta_bytes(t, K) + b * l.quant;
  uint16_t d;
  std::memcpy(&d, meta + 2 * lane, 2);
  const int pos = 4 * lane + e % 4;
  if (t == DType::Q8_0) return f16_to_f32(d) * float(int(quant[(e / 4) * 64 + pos]) - 128);
  if (t == DType::Q4_0) {
    const uint8_t byte = quant[((e % 16) / 4) * 64 + pos];
    return f16_to_f32(d) * float((e < 16 ? byte & 0x0F : byte >> 4) - 8);
  }
  if (t == DType::Q4_K || t == DType::Q5_K) {
    uint8_t scales[12], sc, mn;
    for (int j = 0; j < 12; ++j) scales[j] = meta[64 + 16 * j + lane];
    const int s = e / 32, c = (e % 32) / 4;
    quants::get_scale_min_k4(s, scales, &sc, &mn);
    int q = (quant[512 * (s / 2) + 64 * c + pos] >> (4 * (s % 2))) & 0xF;
    if (t == DType::Q5_K) q |= ((quant[2048 + 64 * c + pos] >> s) & 1) << 4;
    uint16_t dmin;
    std::memcpy(&dmin, meta + 32 + 2 * lane, 2);
    return f16_to_f32(d) * float(sc) * float(q) - f16_to_f32(dmin) * float(mn);
  }
  const int s = e / 16, c = (e % 16) / 4;
  const uint8_t* sub = quant + 192 * s;
  const int q = ((sub[64 * (c / 2) + pos] >> (4 * (c % 2))) & 0xF) | (((sub[128 + pos] >> (2 * c)) & 3) << 4);
  return f16_to_f32(d) * float(int8_t(meta[32 + 16 * s + lane])) * float(q - 32);
}

void quantize_packed_acts(DType t, const float* x, int64_t K, int64_t m0, int64_t m1, int8_t* q, float* d, int32_t* s) {
  const int64_t nd = packed_act_n_d(t, K), ns = packed_act_n_s(t, K);
  if (!packed_k_quant(t)) {
    thread_local std::vector<block_q8_0> blocks;  // per thread, kept: decode allocates nothing
    blocks.resize(size_t(nd));
    for (int64_t m = m0; m < m1; ++m) {
      quantize_act(DType::Q8_0, x + m * K, blocks.data(), K);
      for (int64_t b = 0; b < nd; ++b) {
        const block_q8_0& blk = blocks[size_t(b)];
        int32_t sum = 0;
        for (int j = 0; j < QK8_0; ++j) {
          q[m * K + b * QK8_0 + j] = blk.qs[j];
          sum += blk.qs[j];
        }
        d[m * nd + b] = f16_to_f32(blk.d);
        s[m * ns + b] = sum;
      }
    }
    return;
  }
  thread_local std::vector<block_q8_K> blocks;
  blocks.resize(size_t(nd));
  for (int64_t m = m0; m < m1; ++m) {
    quantize_act(DType::Q8_K, x + m * K, blocks.data(), K);
    for (int64_t b = 0; b < nd; ++b) {
      const block_q8_K& blk = blocks[size_t(b)];
      std::memcpy(q + m * K + b * QK_K, blk.qs, QK_K);
      d[m * nd + b] = blk.d;
      for (int j = 0; j < QK_K / 16; ++j) s[m * ns + b * 16 + j] = blk.bsums[j];
    }
  }
}

const PackedKernels& packed_kernels(Isa isa) {
  const PackedKernels* k = nullptr;
  if (isa == Isa::Avx512) k = packed_kernels_avx512();
  if (k == nullptr && isa != Isa::Scalar) k = packed_kernels_avx2();
  return k != nullptr ? *k : packed_kernels_ref();
}

}  // namespace si::cpu
