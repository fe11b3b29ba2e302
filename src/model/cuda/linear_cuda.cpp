#include "model/cuda/linear_cuda.h"

#include <algorithm>

#include "core/error.h"

namespace si {

bool CudaLinear::needs_perm() const {
  return std::any_of(parts.begin(), parts.end(), [](const cuda::W4Weight& w) { return w.perm != nullptr; });
}

int64_t CudaLinear::max_part_n() const {
  int64_t n = 0;
  for (const cuda::W4Weight& w : parts) n = std::max(n, w.N);
  return n;
}

CudaLinear CudaLinear::gptq(std::span<const cuda::GptqView> linears, cuda::DeviceArena& arena, const cuda::Stream& s) {
  SI_CHECK(!linears.empty(), "cuda runner: a matmul site without Linears");
  CudaLinear w;
  w.K = linears[0].K;
  // Runs of Linears in the same input order become one part each.
  for (size_t b = 0; b < linears.size();) {
    size_t e = b + 1;
    while (e < linears.size() && cuda::w4_same_order(linears[b], linears[e])) ++e;
    w.parts.push_back(cuda::w4_upload(linears.data() + b, e - b, arena, s));
    for (size_t i = b; i < e; ++i) w.N += linears[i].N;
    b = e;
  }
  return w;
}

cuda::GptqView to_w4_view(const GptqView& v, GptqFormat format) {
  SI_CHECK(v.layout.bits == 4, "cuda runner: the W4A16 kernel runs 4-bit GPTQ, this Linear has {} bits", v.layout.bits);
  const int G = v.layout.group_size < 0 ? int(v.layout.in) : v.layout.group_size;
  return cuda::GptqView{v.layout.in, v.layout.out, G, v.qweight, v.qzeros, v.scales, v.g_idx,
                        format == GptqFormat::v1};
}

void linear_matmul(const CudaLinear& w, const void* x, int64_t M, DType y_t, void* y, bool accumulate,
                   cuda::Blas& blas, const LinearScratch& sc, cudaStream_t s, int64_t w4_max_rows) {
  if (!w.is_4bit()) {
    // One row: the GEMV streams the weights faster than cuBLAS (H100, from HBM: QKV 6.6 vs 7.0 us,
    // o 5.3 vs 6.3, gate|up 25.1 vs 25.2; down with K split over warps: docs/cuda-notes.md); at 4
    // rows it was slower on every shape (QKV 11.5 vs 7.4 us), so more rows go to cuBLAS.
    if (M == 1 && cuda::gemv_fits(DType::F16, M, w.K))
      cuda::gemv(DType::F16, x, M, w.K, w.f16, w.N, y_t, y, accumulate, s);
    else blas.matmul(DType::F16, x, M, w.K, w.f16, w.N, y_t, y, accumulate, s);
    return;
  }
  const size_t ysz = y_t == DType::F32 ? 4 : 2;
  int64_t n0 = 0;
  for (const cuda::W4Weight& p : w.parts) {
    void* yp = static_cast<char*>(y) + size_t(n0) * ysz;  // this part's first column
    if (M <= std::min(w4_max_rows, kW4MaxRows)) {
      cuda::w4a16_matmul(p, x, M, y_t, yp, accumulate, sc.x_perm, s, w.N);
    } else {
      const void* xp = x;
      if (p.perm) {
        cuda::permute_cols(p, x, M, sc.x_perm, s);
        xp = sc.x_perm;
      }
      cuda::w4_dequantize(p, sc.w_f16, s);  // (N_p, K) in the part's input order
      if (w.parts.size() == 1) {
        blas.matmul(DType::F16, xp, M, w.K, sc.w_f16, p.N, y_t, y, accumulate, s);
      } else {
        // cuBLAS writes (M, N_p) densely; the part's columns of y are strided.
        SI_CHECK(!accumulate, "cuda runner: a matmul site of several 4-bit parts cannot accumulate");
        blas.matmul(DType::F16, xp, M, w.K, sc.w_f16, p.N, y_t, sc.y_part, false, s);
        SI_CUDA_CHECK(cudaMemcpy2DAsync(yp, size_t(w.N) * ysz, sc.y_part, size_t(p.N) * ysz, size_t(p.N) * ysz,
                                        size_t(M), cudaMemcpyDeviceToDevice, s));
      }
    }
    n0 += p.N;
  }
}

}  // namespace si
