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

Blas::Plan& Blas::plan(DType ab_t, DType y_t, int64_t M, int64_t N, int64_t K, bool accumulate) {
  const Key key{int(ab_t), int(y_t), M, N, K, accumulate};
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  auto p = std::make_unique<Plan>();
  const cudaDataType_t ab = cuda_type(ab_t, "x and w"), yt = cuda_type(y_t, "y");
  // Column-major view of the row-major product: y^T (N, M) = W (N, K) x^T (K, M), where the stored
  // W is W^T (K, N) column-major (hence op T) and the stored x is x^T (K, M) column-major.
  check_blas(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
  const cublasOperation_t tr = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &tr, sizeof(tr)), "TRANSA");
  check_blas(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)), "TRANSB");
  check_blas(cublasLtMatrixLayoutCreate(&p->a, ab, uint64_t(K), uint64_t(N), K), "layout W");
  check_blas(cublasLtMatrixLayoutCreate(&p->b, ab, uint64_t(K), uint64_t(M), K), "layout x");
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
    fail("matmul (CUDA): cuBLASLt has no algorithm for x ({}, {}) {} times W ({}, {}) into {} (status {})", M, K,
         dtype_name(ab_t), N, K, dtype_name(y_t), int(st));
  (void)accumulate;  // part of the key: the heuristic may differ, and C must be read
  p->algo = res.algo;
  return *plans_.emplace(key, std::move(p)).first->second;
}

void Blas::matmul(DType ab_t, const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y,
                  bool accumulate, cudaStream_t s) {
  SI_CHECK(M >= 0 && N > 0 && K > 0, "matmul (CUDA): bad sizes M={} N={} K={}", M, N, K);
  if (M == 0) return;
  Plan& p = plan(ab_t, y_t, M, N, K, accumulate);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  check_blas(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.op, &alpha, w, p.a, x, p.b, &beta, y, p.c, y,
                            p.c, &p.algo, workspace_.data(), workspace_.bytes(), s),
             "cublasLtMatmul");
}

}  // namespace si::cuda
