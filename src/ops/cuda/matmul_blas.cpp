// cuBLASLt behind cuda::Blas: one plan (descriptors + the heuristic's algorithm) per shape, made on
// first use and kept, so decode steps (and CUDA graph captures) only call cublasLtMatmul.
#include <cublasLt.h>

#include "core/error.h"
#include "ops/cuda/matmul.h"

namespace si::cuda {
namespace {

constexpr size_t kWorkspace = size_t(32) << 20;

void check_blas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) fail("cuBLASLt: {} failed with status {}", what, int(st));
}

cudaDataType_t cuda_type(DType t, const char* what) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: fail("matmul (CUDA): {} must be F32, F16 or BF16, got {}", what, dtype_name(t));
  }
}

// cuBLASLt's A is W: its scale vector runs over W's rows (N), B's over x's rows (M).
void set_scales(cublasLtMatmulDesc_t op, const float* w_scale, const float* x_scale) {
  check_blas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scale, sizeof(w_scale)),
             "A_SCALE_POINTER");
  check_blas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &x_scale, sizeof(x_scale)),
             "B_SCALE_POINTER");
}

}  // namespace

struct Blas::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

Blas::Blas() : workspace_(kWorkspace, "cublasLt workspace") {
  cublasLtHandle_t h = nullptr;
  check_blas(cublasLtCreate(&h), "cublasLtCreate");
  handle_ = h;
}

Blas::~Blas() {
  plans_.clear();
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

Blas::Plan& Blas::plan(int ab, DType y_t, int64_t M, int64_t N, int64_t K, bool accumulate, const float* w_scale,
                       const float* x_scale) {
  const Key key{ab, int(y_t), M, N, K, accumulate};
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  auto p = std::make_unique<Plan>();
  const bool fp8 = ab == kE4m3 || ab == kE4m3Fast;
  const cudaDataType_t abt = fp8 ? CUDA_R_8F_E4M3 : cuda_type(DType(ab), "x and w"), yt = cuda_type(y_t, "y");
  // Column-major view of the row-major product: y^T (N, M) = W (N, K) x^T (K, M), where the stored
  // W is W^T (K, N) column-major (hence op T) and the stored x is x^T (K, M) column-major. (This
  // "TN" form is also the one cuBLASLt's FP8 kernels require.)
  check_blas(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
  const cublasOperation_t tr = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &tr, sizeof(tr)), "TRANSA");
  check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)), "TRANSB");
  if (fp8) {
    const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    const int8_t fast = ab == kE4m3Fast;
    check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode)),
               "A_SCALE_MODE");
    check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode)),
               "B_SCALE_MODE");
    check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)),
               "FAST_ACCUM");
    set_scales(p->op, w_scale, x_scale);  // the heuristic sees a complete descriptor
  }
  check_blas(cublasLtMatrixLayoutCreate(&p->a, abt, uint64_t(K), uint64_t(N), K), "layout W");
  check_blas(cublasLtMatrixLayoutCreate(&p->b, abt, uint64_t(K), uint64_t(M), K), "layout x");
  check_blas(cublasLtMatrixLayoutCreate(&p->c, yt, uint64_t(N), uint64_t(M), N), "layout y");
  cublasLtMatmulPreference_t pref = nullptr;
  check_blas(cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate");
  const size_t ws = kWorkspace;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulHeuristicResult_t res{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), p->op, p->a, p->b,
                                                           p->c, p->c, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0)
    fail("matmul (CUDA): cuBLASLt has no algorithm for x ({}, {}) {} times W ({}, {}) into {} (status {}{})", M, K,
         fp8 ? "e4m3 with per-row scales" : dtype_name(DType(ab)), N, K, dtype_name(y_t), int(st),
         fp8 ? "; FP8 needs compute capability 8.9 or newer and cuBLAS 12.9 or newer" : "");
  (void)accumulate;  // part of the key: the heuristic may differ, and C must be read
  p->algo = res.algo;
  return *plans_.emplace(key, std::move(p)).first->second;
}

void Blas::matmul(DType ab_t, const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y,
                  bool accumulate, cudaStream_t s) {
  SI_CHECK(M >= 0 && N > 0 && K > 0, "matmul (CUDA): bad sizes M={} N={} K={}", M, N, K);
  if (M == 0) return;
  Plan& p = plan(int(ab_t), y_t, M, N, K, accumulate, nullptr, nullptr);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  check_blas(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.op, &alpha, w, p.a, x, p.b, &beta, y, p.c, y,
                            p.c, &p.algo, workspace_.data(), workspace_.bytes(), s),
             "cublasLtMatmul");
}

void Blas::matmul_fp8(Fp8Rows x, int64_t M, int64_t K, Fp8Rows w, int64_t N, DType y_t, void* y, bool accumulate,
                      bool fast_accum, cudaStream_t s) {
  SI_CHECK(M >= 0 && N > 0 && K > 0 && K % 16 == 0, "matmul_fp8 (CUDA): bad sizes M={} N={} K={} (K a multiple of 16)",
           M, N, K);
  SI_CHECK(aligned16({x.q, w.q}), "matmul_fp8 (CUDA): x and w codes must be 16-byte aligned");
  if (M == 0) return;
  Plan& p = plan(fast_accum ? kE4m3Fast : kE4m3, y_t, M, N, K, accumulate, w.scale, x.scale);
  // The scale vectors change from call to call (each Linear has its own); the descriptor holds
  // their addresses, which cublasLtMatmul reads at launch (a captured graph keeps them).
  set_scales(p.op, w.scale, x.scale);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  check_blas(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.op, &alpha, w.q, p.a, x.q, p.b, &beta, y, p.c,
                            y, p.c, &p.algo, workspace_.data(), workspace_.bytes(), s),
             "cublasLtMatmul (FP8)");
}

}  // namespace si::cuda
