// W4A16 (GPTQ layout) on the GPU against the CPU fp32 reference matmul over the dequantized
// weight, on tensors made by round-to-nearest into AutoGPTQ's layout: group sizes 128, 32 and
// per-channel, with and without act-order, batches 1..100, each kernel (w4a16_select_kernel; kernel
// 3 also with each forced split, up to 16 rows). Kernel 1, and kernels 2/3 on groups below 64
// inputs (handed to kernel 1), multiply the fp16-rounded weight; kernels 2 and 3 on groups of >= 64
// apply the scale to fp32 sums, so their reference is the unrounded scale * (q - zero). The repack
// tests run without a GPU.
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "cuda_test_util.h"
#include "gptq_rtn.h"
#include "ops/cuda/w4a16.h"
#include "ops/cuda/w4a16_v3.h"
#include "ops/matmul.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::DeviceTensor;
using test::randn;
using test::rel_err;
using test::rounded;
using test::view;

// The packed layout decoded independently of the kernel: input j of output row n.
int packed_q(const cuda::W4Packed& p, int64_t n, int64_t j) {
  const int64_t chunks = p.K / 64, nt = n / 16, c = j / 64;
  const int rr = int(n % 16), within = int(j % 64);
  const int q = within / 16, t = (within % 16) / 4, jj = within % 4;
  const int lane = (rr % 8) * 4 + q;
  const uint32_t word = p.packed[size_t(((nt * chunks + c) * 32 + lane) * 4 + t)];
  // nibble = row half (rr >= 8) + 2 * (jj >= 2) + 4 * (jj odd)
  const int nib = (rr >= 8 ? 1 : 0) + (jj >= 2 ? 2 : 0) + (jj % 2 ? 4 : 0);
  return int((word >> (4 * nib)) & 15u);
}

TEST(W4A16Pack, RepackKeepsEveryWeightAndOrdersGroups) {
  const int64_t N = 32, K = 256;
  for (const bool act : {false, true}) {
    const auto w = randn(size_t(N * K), 1, 0.05f);
    const test::GptqRtn g = test::gptq_rtn(w, N, K, 64, act, 7);
    const cuda::W4Packed p = cuda::w4_pack(g.view());
    ASSERT_EQ(p.perm.empty(), !act);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < K; ++j) {
        const int64_t k = act ? p.perm[size_t(j)] : j;
        ASSERT_EQ(g.g_idx[size_t(k)], j / 64) << "groups contiguous after the permutation";
        const int q = int((uint32_t(g.qweight[size_t((k / 8) * N + n)]) >> (4 * (k % 8))) & 15u);
        ASSERT_EQ(packed_q(p, n, j), q) << "n=" << n << " j=" << j;
        const uint32_t sz = p.sz[size_t((j / 64) * N + n)];
        const float zero = f16_to_f32(uint16_t(sz & 0xffffu)) - 1024.0f, scale = f16_to_f32(uint16_t(sz >> 16));
        ASSERT_EQ(f16_to_f32(f32_to_f16(scale * (float(q) - zero))), g.deq[size_t(n * K + k)]);
      }
  }
}

TEST(W4A16Pack, RejectsShapesTheKernelCannotRun) {
  const auto w = randn(size_t(16 * 96), 2);
  const test::GptqRtn g = test::gptq_rtn(w, 16, 96, 32, false, 1);
  EXPECT_THROW(cuda::w4_pack(g.view()), Error);  // K = 96 is not a multiple of 64
}

TEST(W4A16Cuda, MatchesReferenceOnDequantizedWeights) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  struct Case { int64_t N, K; int G; bool act; };
  struct Variant { int kernel, split; };  // split: kernel 3's forced chunks per warp (0: its choice)
  for (const Variant var : {Variant{1, 0}, Variant{2, 0}, Variant{3, 0}, Variant{3, 2}, Variant{3, 4}, Variant{3, 8}}) {
    const int kernel = var.kernel;
    cuda::w4a16_select_kernel(kernel);
    cuda::v3::force_split(var.split);
    for (const Case cs : {Case{64, 256, 128, false}, Case{48, 512, 128, true}, Case{32, 256, 32, true},
                          Case{80, 384, 384, false}, Case{256, 2048, 128, true}, Case{2048, 8192, 128, false}}) {
      const auto w = randn(size_t(cs.N * cs.K), 3, 0.05f);
      const test::GptqRtn g = test::gptq_rtn(w, cs.N, cs.K, cs.G, cs.act, 11);
      const bool rounded_w = kernel == 1 || cs.G % 64 != 0;
      cuda::DeviceArena arena("w4");
      const cuda::W4Weight dw = cuda::w4_upload(g.view(), arena, s);
      for (const int64_t M : {1, 5, 8, 16, 33, 64, 100}) {
        if (cs.K > 2048 && M != 1 && M != 16) continue;  // the large shape: kernel 2's 16-warp blocks
        if (var.split != 0 && M > 16) continue;          // (forced splits: kernel 3 takes M <= 16)
        auto x = rounded(randn(size_t(M * cs.K), 4), DType::F16);
        auto y0 = randn(size_t(M * cs.N), 5);
        // Kernel 2 applies group scales to fp32 sums (no fp16 rounding of the dequantized weight);
        // where it does not take the shape, the dispatch falls back to kernel 1 (rounded weights),
        // so its F32 output must match one of the two references exactly.
        std::vector<float> deq = rounded_w ? g.deq : g.deq32, deq_rounded = g.deq;
        std::vector<float> ref(size_t(M * cs.N)), ref_rounded(size_t(M * cs.N));
        ops::matmul_ref(view(x, {M, cs.K}), view(deq, {cs.N, cs.K}), view(ref, {M, cs.N}));
        ops::matmul_ref(view(x, {M, cs.K}), view(deq_rounded, {cs.N, cs.K}), view(ref_rounded, {M, cs.N}));
        DeviceTensor dx(x, DType::F16, s), y16(size_t(M * cs.N), DType::F16, s), y32(y0, DType::F32, s);
        cuda::DeviceBuffer scratch(size_t(M * cs.K) * 2, "scratch");
        cuda::w4a16_matmul(dw, dx.data(), M, DType::F16, y16.data(), false, scratch.data(), s.get());
        cuda::w4a16_matmul(dw, dx.data(), M, DType::F32, y32.data(), true, scratch.data(), s.get());
        const std::string where = fmt::format("kernel {} split {} N={} K={} G={} act={} M={}", kernel, var.split,
                                              cs.N, cs.K, cs.G, cs.act, M);
        EXPECT_LT(rel_err(y16.download(s), ref), 2e-3) << where;
        auto ref_acc = ref, ref_rounded_acc = ref_rounded;
        for (size_t i = 0; i < ref.size(); ++i) ref_acc[i] += y0[i], ref_rounded_acc[i] += y0[i];
        const auto got = y32.download(s);
        EXPECT_LT(std::min(rel_err(got, ref_acc), rel_err(got, ref_rounded_acc)), 1e-5) << where;
      }
    }
  }
  cuda::w4a16_select_kernel(3);
  cuda::v3::force_split(0);
}

// Linears side by side: one weight of q|k|v packed together, and each part writing its columns of a
// wider output (ldy), give the outputs of the separate products.
TEST(W4A16Cuda, PartsSideBySideFillTheirColumns) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const int64_t K = 512, M = 3;
  const int64_t Ns[3] = {128, 32, 32};
  std::vector<test::GptqRtn> parts;
  std::vector<cuda::GptqView> views;
  for (int i = 0; i < 3; ++i) {
    parts.push_back(test::gptq_rtn(randn(size_t(Ns[i] * K), uint32_t(20 + i), 0.05f), Ns[i], K, 128, false, 1));
  }
  for (const auto& p : parts) views.push_back(p.view());
  ASSERT_TRUE(cuda::w4_same_order(views[0], views[1]));
  const test::GptqRtn act = test::gptq_rtn(randn(size_t(32 * K), 30, 0.05f), 32, K, 128, true, 9);
  EXPECT_FALSE(cuda::w4_same_order(views[0], act.view()));
  EXPECT_TRUE(cuda::w4_same_order(act.view(), act.view()));
  cuda::DeviceArena arena("w4");
  const cuda::W4Weight fused = cuda::w4_upload(views.data(), views.size(), arena, s);
  ASSERT_EQ(fused.N, 192);
  const auto x = rounded(randn(size_t(M * K), 6), DType::F16);
  DeviceTensor dx(x, DType::F16, s), all(size_t(M * 192), DType::F32, s), cols(size_t(M * 192), DType::F32, s);
  cuda::w4a16_matmul(fused, dx.data(), M, DType::F32, all.data(), false, nullptr, s.get());
  int64_t n0 = 0;
  for (int i = 0; i < 3; ++i) {
    const cuda::W4Weight one = cuda::w4_upload(views[size_t(i)], arena, s);
    cuda::w4a16_matmul(one, dx.data(), M, DType::F32, static_cast<float*>(cols.data()) + n0, false, nullptr, s.get(), 192);
    n0 += Ns[i];
  }
  const auto a = all.download(s), b = cols.download(s);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << i;  // every column written, same sums
  EXPECT_THROW(cuda::w4_upload(std::vector<cuda::GptqView>{views[0], act.view()}.data(), 2, arena, s), Error);
}

TEST(W4A16Cuda, DequantizeGivesThePermutedFp16Weight) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const int64_t N = 48, K = 512;
  const test::GptqRtn g = test::gptq_rtn(randn(size_t(N * K), 6, 0.05f), N, K, 128, true, 3);
  cuda::DeviceArena arena("w4");
  const cuda::W4Weight dw = cuda::w4_upload(g.view(), arena, s);
  const cuda::W4Packed p = cuda::w4_pack(g.view());
  DeviceTensor out(size_t(N * K), DType::F16, s);
  cuda::w4_dequantize(dw, out.data(), s.get());
  const auto got = out.download(s);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < K; ++j)
      ASSERT_EQ(got[size_t(n * K + j)], g.deq[size_t(n * K + p.perm[size_t(j)])]) << "n=" << n << " j=" << j;
}

}  // namespace
}  // namespace si
