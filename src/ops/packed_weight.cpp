#include "ops/packed_weight.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/check.h"
#include "ops/cpu/gemm_packed.h"

namespace si::ops {
namespace {

// Groups packed between two releases of source pages: ~1-2 MiB of a 2048-wide matrix.
constexpr int64_t kReleaseGroups = 64;

// Drops the whole pages inside [p, p + n) from this process (they are re-read from the file if
// touched again). Only called on read-only file mappings.
void release_pages(const uint8_t* p, uint64_t n) {
  static const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  const uint64_t b = (reinterpret_cast<uint64_t>(p) + page - 1) / page * page;
  const uint64_t e = (reinterpret_cast<uint64_t>(p) + n) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace

bool PackedWeight::supports(DType t) { return cpu::packed_slot(t) >= 0; }

PackedWeight PackedWeight::pack(const TensorView& w, ThreadPool* pool, bool release_source) {
  expect_ndim(w, 2, "pack", "weight");
  SI_CHECK(supports(w.dtype), "pack: no packed layout for {} weights (packed: Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)", dtype_name(w.dtype));
  const int64_t N = w.dim(0), K = w.dim(1);
  const int bs = cpu::packed_layout(w.dtype).block;
  SI_CHECK(N >= 1 && K >= bs && K % bs == 0, "pack: {} weight shape {} needs rows >= 1 and columns a multiple of {}",
           dtype_name(w.dtype), shape_str(w.shape), bs);
  PackedWeight p;
  p.dtype_ = w.dtype;
  p.rows_ = N;
  p.cols_ = K;
  const int64_t groups = (N + cpu::kPackRows - 1) / cpu::kPackRows;
  const uint64_t gb = cpu::packed_group_bytes(w.dtype, K);
  p.bytes_ = gb * uint64_t(groups);
  void* mem = mmap(nullptr, p.bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SI_CHECK(mem != MAP_FAILED, "pack: cannot allocate {} bytes for a {} {} weight", p.bytes_, dtype_name(w.dtype),
           shape_str(w.shape));
  madvise(mem, p.bytes_, MADV_HUGEPAGE);  // fewer TLB misses when decode streams the whole matrix
  p.data_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(mem), [n = p.bytes_](uint8_t* q) { munmap(q, n); });
  const auto* src = static_cast<const uint8_t*>(w.data);
  const uint64_t rb = w.row_bytes();
  uint8_t* dst = p.data_.get();
  auto run = [&](int64_t g0, int64_t g1, int) {
    for (int64_t c0 = g0; c0 < g1; c0 += kReleaseGroups) {
      const int64_t c1 = std::min(g1, c0 + kReleaseGroups);
      for (int64_t g = c0; g < c1; ++g) cpu::pack_group(w.dtype, src, rb, N, K, g, dst + uint64_t(g) * gb);
      if (release_source) {
        const int64_t r0 = c0 * cpu::kPackRows, r1 = std::min(N, c1 * cpu::kPackRows);
        release_pages(src + uint64_t(r0) * rb, uint64_t(r1 - r0) * rb);
      }
    }
  };
  if (pool != nullptr) pool->parallel_for(groups, run, kReleaseGroups);
  else run(0, groups, 0);
  if (release_source) release_pages(src, w.bytes());  // pages that straddled two chunks
  return p;
}

float PackedWeight::value(int64_t r, int64_t k) const {
  SI_CHECK(r >= 0 && r < rows_ && k >= 0 && k < cols_, "PackedWeight::value: ({}, {}) outside [{}, {}]", r, k, rows_,
           cols_);
  return cpu::packed_value(dtype_, data(), cols_, r, k);
}

void PackedWeight::dequantize_row(int64_t r, float* out) const {
  SI_CHECK(r >= 0 && r < rows_, "PackedWeight::dequantize_row: row {} outside [0, {})", r, rows_);
  for (int64_t k = 0; k < cols_; ++k) out[k] = cpu::packed_value(dtype_, data(), cols_, r, k);
}

void matmul(const TensorView& x, const PackedWeight& w, const TensorView& y, ThreadPool& pool) {
  expect_f32(x, "matmul", "x");
  expect_f32(y, "matmul", "y");
  const int64_t K = w.cols(), N = w.rows();
  SI_CHECK(x.ndim() >= 1 && y.ndim() >= 1, "matmul: x and y need at least one dimension");
  SI_CHECK(x.cols() == K, "matmul: x has {} columns but the packed weight [{}, {}] expects {}", x.cols(), N, K, K);
  SI_CHECK(y.cols() == N, "matmul: y has {} columns, expected {}", y.cols(), N);
  SI_CHECK(y.rows() == x.rows(), "matmul: y has {} rows but x has {}", y.rows(), x.rows());
  const int64_t M = x.rows();
  const DType t = w.dtype();
  const int64_t nd = cpu::packed_act_n_d(t, K), ns = cpu::packed_act_n_s(t, K);
  if (M == 0) return;
  // Activations quantized as the row-major path does (Q8_0 or Q8_K), split into values, scales, sums.
  thread_local std::vector<int8_t> aq;
  thread_local std::vector<float> ad;
  thread_local std::vector<int32_t> as;
  aq.resize(size_t(M * K));
  ad.resize(size_t(M * nd));
  as.resize(size_t(M * ns));
  const float* xp = x.as<float>();
  int8_t* aqp = aq.data();
  float* adp = ad.data();
  int32_t* asp = as.data();
  pool.parallel_for(M, [&](int64_t m0, int64_t m1, int) { cpu::quantize_packed_acts(t, xp, K, m0, m1, aqp, adp, asp); });
  cpu::PackedGemmArgs a;
  a.w = w.data();
  a.group_bytes = cpu::packed_group_bytes(t, K);
  a.meta_bytes = cpu::packed_meta_bytes(t, K);
  a.N = N;
  a.K = K;
  a.a = {aqp, adp, asp, M};
  a.y = y.as<float>();
  a.ldy = N;
  const cpu::PackedGemmFn fn = cpu::packed_kernels(cpu::isa_active()).gemm[cpu::packed_slot(w.dtype())];
  const int64_t groups = (N + cpu::kPackRows - 1) / cpu::kPackRows;
  pool.parallel_for(groups, [&](int64_t g0, int64_t g1, int) { fn(a, g0, g1); });
}

}  // namespace si::ops
