// cuBLASLt behind cuda::Blas: one plan (descriptors + the heuristic's algorithm) per shape, made on
// first use and kept, so decode steps (and CUDA graph captures) only call cublasLtMatmul.
#include <cublasLt.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "ops/cuda/matmul.h"

namespace si::cuda {
namespace {

constexpr size_t kWorkspace = size_t(32) << 20;
constexpr int kCandidates = 8;     // heuristic results timed per shape
constexpr int kTimedRuns = 3;      // per candidate, after one warm-up; the fastest counts
constexpr double kMustWin = 0.97;  // another algorithm replaces the first choice only if 3 % faster
constexpr size_t kFlushBytes = size_t(64) << 20;  // > the H100's 50 MB L2: weights come from HBM, as in a pass

std::atomic<bool> g_autotune{true};
// (shape key, autotuned) -> the algorithm every Blas of this process runs for it.
std::mutex g_chosen_mu;
std::map<std::tuple<int, int, int64_t, int64_t, int64_t, bool, bool>, cublasLtMatmulAlgo_t> g_chosen;

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

void set_matmul_autotune(bool on) { g_autotune.store(on); }

struct Blas::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;  // the heuristic's, best first
  bool tuned = false;                                         // algo is the process-wide choice
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
  std::vector<cublasLtMatmulHeuristicResult_t> res(kCandidates);
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), p->op, p->a, p->b,
                                                           p->c, p->c, pref, kCandidates, res.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0)
    fail("matmul (CUDA): cuBLASLt has no algorithm for x ({}, {}) {} times W ({}, {}) into {} (status {})", M, K,
         dtype_name(ab_t), N, K, dtype_name(y_t), int(st));
  // accumulate is part of the key: the heuristic may differ when C must be read.
  p->algo = res[0].algo;
  res.resize(size_t(found));
  p->candidates = std::move(res);
  return *plans_.emplace(key, std::move(p)).first->second;
}

// The fastest of the plan's candidates on this shape, with y's writes going to a scratch buffer
// (x and w are only read); the first choice stays unless another is kMustWin faster.
void Blas::time_candidates(Plan& p, DType y_t, int64_t M, int64_t N, const void* x, const void* w, cudaStream_t s) {
  if (p.candidates.size() < 2) return;
  DeviceBuffer y(size_t(M * N) * size_t(dtype_type_size(y_t)), "matmul autotune output"), flush(kFlushBytes, "L2 flush");
  SI_CUDA_CHECK(cudaMemsetAsync(y.data(), 0, y.bytes(), s));
  cudaEvent_t a, b;
  SI_CUDA_CHECK(cudaEventCreate(&a));
  SI_CUDA_CHECK(cudaEventCreate(&b));
  const float alpha = 1.0f, beta = 0.0f;
  std::vector<float> best(p.candidates.size(), 1e30f);
  for (size_t i = 0; i < p.candidates.size(); ++i) {
    for (int r = 0; r <= kTimedRuns; ++r) {
      SI_CUDA_CHECK(cudaMemsetAsync(flush.data(), r, flush.bytes(), s));
      SI_CUDA_CHECK(cudaEventRecord(a, s));
      const cublasStatus_t st =
          cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.op, &alpha, w, p.a, x, p.b, &beta, y.data(), p.c,
                         y.data(), p.c, &p.candidates[i].algo, workspace_.data(), workspace_.bytes(), s);
      SI_CUDA_CHECK(cudaEventRecord(b, s));
      if (st != CUBLAS_STATUS_SUCCESS) break;  // a candidate that does not run here is never chosen
      SI_CUDA_CHECK(cudaEventSynchronize(b));
      float ms = 0;
      SI_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      if (r > 0) best[i] = std::min(best[i], ms);
    }
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  size_t pick = 0;
  for (size_t i = 1; i < best.size(); ++i)
    if (best[i] < best[pick] * (pick == 0 ? kMustWin : 1.0f)) pick = i;
  p.algo = p.candidates[pick].algo;
}

void Blas::matmul(DType ab_t, const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y,
                  bool accumulate, cudaStream_t s) {
  SI_CHECK(M >= 0 && N > 0 && K > 0, "matmul (CUDA): bad sizes M={} N={} K={}", M, N, K);
  if (M == 0) return;
  Plan& p = plan(ab_t, y_t, M, N, K, accumulate);
  if (!p.tuned) {
    // Once per shape and process (see matmul.h); never inside a graph capture, where nothing may
    // wait or allocate: a shape first met there keeps the first choice of this Blas.
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    SI_CUDA_CHECK(cudaStreamIsCapturing(s, &cap));
    if (cap == cudaStreamCaptureStatusNone) {
      const bool autotune = g_autotune.load();
      const auto key = std::make_tuple(int(ab_t), int(y_t), M, N, K, accumulate, autotune);
      std::lock_guard<std::mutex> lock(g_chosen_mu);
      auto it = g_chosen.find(key);
      if (it == g_chosen.end()) {
        if (autotune) time_candidates(p, y_t, M, N, x, w, s);
        it = g_chosen.emplace(key, p.algo).first;
      }
      p.algo = it->second;
      p.tuned = true;
    }
  }
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  check_blas(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.op, &alpha, w, p.a, x, p.b, &beta, y, p.c, y,
                            p.c, &p.algo, workspace_.data(), workspace_.bytes(), s),
             "cublasLtMatmul");
}

}  // namespace si::cuda
