// GPTQ (AutoGPTQ layout) -> the W4A16 kernel's layout, on the host, once at load.
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/half.h"
#include "ops/cuda/w4a16.h"

namespace si::cuda {
namespace {

int q_at(const GptqView& g, int64_t k, int64_t n) {
  return int((uint32_t(g.qweight[(k / 8) * g.N + n]) >> (4 * (k % 8))) & 15u);
}

int zero_at(const GptqView& g, int64_t grp, int64_t n) {
  const int z = int((uint32_t(g.qzeros[grp * (g.N / 8) + n / 8]) >> (4 * (n % 8))) & 15u);
  return z + (g.zeros_minus_one ? 1 : 0);
}

// g_idx[k] == k / G for every k (or no g_idx): the natural order, no permutation.
bool natural_order(const GptqView& g) {
  if (!g.g_idx) return true;
  for (int64_t k = 0; k < g.K; ++k)
    if (g.g_idx[k] != k / g.group_size) return false;
  return true;
}

}  // namespace

bool w4_same_order(const GptqView& a, const GptqView& b) {
  if (a.K != b.K || a.group_size != b.group_size) return false;
  const bool na = natural_order(a), nb = natural_order(b);
  if (na || nb) return na && nb;
  return std::equal(a.g_idx, a.g_idx + a.K, b.g_idx);
}

W4Packed w4_pack(const GptqView* parts, size_t n_parts) {
  SI_CHECK(n_parts > 0, "w4a16: nothing to pack");
  if (n_parts == 1) return w4_pack(parts[0]);
  W4Packed out;
  int64_t N = 0;
  for (size_t i = 0; i < n_parts; ++i) {
    const GptqView& g = parts[i];
    SI_CHECK(w4_same_order(parts[0], g), "w4a16: Linears packed side by side need the same K ({} vs {}), group size "
             "({} vs {}) and input order", parts[0].K, g.K, parts[0].group_size, g.group_size);
    N += g.N;
  }
  std::vector<W4Packed> each;
  for (size_t i = 0; i < n_parts; ++i) each.push_back(w4_pack(parts[i]));
  out.K = parts[0].K;
  out.N = N;
  out.group_size = each[0].group_size;
  out.perm = each[0].perm;
  // packed: (N/16, K/64, 32, 4) words, so parts follow each other; sz: (groups, N), rows interleave.
  for (const W4Packed& p : each) out.packed.insert(out.packed.end(), p.packed.begin(), p.packed.end());
  const int64_t groups = int64_t(each[0].sz.size()) / each[0].N;
  out.sz.resize(size_t(groups * N));
  int64_t n0 = 0;
  for (const W4Packed& p : each) {
    for (int64_t g = 0; g < groups; ++g)
      std::copy_n(p.sz.begin() + g * p.N, p.N, out.sz.begin() + g * N + n0);
    n0 += p.N;
  }
  return out;
}

W4Packed w4_pack(const GptqView& g) {
  const int64_t K = g.K, N = g.N, G = g.group_size;
  SI_CHECK(K > 0 && N > 0 && K % 64 == 0 && N % 16 == 0,
           "w4a16: in_features {} must be a multiple of 64 and out_features {} of 16", K, N);
  SI_CHECK(G > 0 && G % 16 == 0, "w4a16: group size {} must be a positive multiple of 16 (per-channel: K)", G);
  SI_CHECK(g.qweight && g.qzeros && g.scales, "w4a16: qweight, qzeros and scales are all needed");
  const int64_t groups = (K + G - 1) / G;
  W4Packed p;
  p.K = K;
  p.N = N;
  p.group_size = int(G);
  // Input order: stable sort by group, so each group's rows are contiguous (act-order checkpoints).
  std::vector<int32_t> perm(static_cast<size_t>(K));
  std::iota(perm.begin(), perm.end(), 0);
  bool identity = true;
  if (g.g_idx) {
    for (int64_t k = 0; k < K; ++k) {
      SI_CHECK(g.g_idx[k] >= 0 && g.g_idx[k] < groups, "w4a16: g_idx[{}] = {} outside the {} groups", k, g.g_idx[k],
               groups);
      identity = identity && g.g_idx[k] == k / G;
    }
    if (!identity) {
      std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return g.g_idx[a] < g.g_idx[b]; });
      for (int64_t j = 0; j < K; ++j)
        SI_CHECK(g.g_idx[perm[size_t(j)]] == j / G, "w4a16: group {} does not hold {} input rows (g_idx is not a "
                 "GPTQ act-order grouping)", g.g_idx[perm[size_t(j)]], G);
      p.perm = perm;
    }
  }
  // Nibble order inside a lane's four words (see the kernel): word t, lane (r = lane/4, q = lane%4)
  // holds rows r and r+8 at inputs j = c*64 + q*16 + 4t + {0,1,2,3}.
  static constexpr int kRowOf[8] = {0, 8, 0, 8, 0, 8, 0, 8};  // nibble -> row offset
  static constexpr int kInOf[8] = {0, 0, 2, 2, 1, 1, 3, 3};   // nibble -> input offset (0..3)
  const int64_t chunks = K / 64;
  p.packed.assign(size_t(N / 16 * chunks * 32 * 4), 0u);
  for (int64_t nt = 0; nt < N / 16; ++nt)
    for (int64_t c = 0; c < chunks; ++c)
      for (int lane = 0; lane < 32; ++lane) {
        const int r = lane / 4, q = lane % 4;
        for (int t = 0; t < 4; ++t) {
          uint32_t word = 0;
          for (int nib = 0; nib < 8; ++nib) {
            const int64_t j = c * 64 + q * 16 + 4 * t + kInOf[nib];
            word |= uint32_t(q_at(g, perm[size_t(j)], nt * 16 + r + kRowOf[nib])) << (4 * nib);
          }
          p.packed[size_t(((nt * chunks + c) * 32 + lane) * 4 + t)] = word;
        }
      }
  p.sz.resize(size_t(groups * N));
  for (int64_t grp = 0; grp < groups; ++grp)
    for (int64_t n = 0; n < N; ++n)
      p.sz[size_t(grp * N + n)] = uint32_t(f32_to_f16(float(1024 + zero_at(g, grp, n)))) |
                                  (uint32_t(g.scales[grp * N + n]) << 16);
  return p;
}

W4Weight w4_upload(const GptqView& g, DeviceArena& arena, const Stream& s) {
  return w4_upload(&g, 1, arena, s);
}

W4Weight w4_upload(const GptqView* parts, size_t n_parts, DeviceArena& arena, const Stream& s) {
  const W4Packed p = w4_pack(parts, n_parts);
  W4Weight w;
  w.K = p.K;
  w.N = p.N;
  w.group_size = p.group_size;
  const size_t before = arena.bytes_used();
  void* packed = arena.alloc_bytes(p.packed.size() * 4);
  auto* sz = arena.alloc<uint32_t>(p.sz.size());
  SI_CUDA_CHECK(cudaMemcpyAsync(packed, p.packed.data(), p.packed.size() * 4, cudaMemcpyHostToDevice, s.get()));
  SI_CUDA_CHECK(cudaMemcpyAsync(sz, p.sz.data(), p.sz.size() * 4, cudaMemcpyHostToDevice, s.get()));
  if (!p.perm.empty()) {
    auto* perm = arena.alloc<int32_t>(p.perm.size());
    SI_CUDA_CHECK(cudaMemcpyAsync(perm, p.perm.data(), p.perm.size() * 4, cudaMemcpyHostToDevice, s.get()));
    w.perm = perm;
  }
  s.sync();  // the host vectors die here
  w.packed = packed;
  w.sz = sz;
  w.bytes = arena.bytes_used() - before;
  return w;
}

}  // namespace si::cuda
