// GptqSolverCuda: quant/gptq.cpp's gptq_quantize and rtn_quantize with the data on the device.
// The host keeps only what is sequential and small: the act-order sort of diag(H) (the CPU's
// stable sort, so ties break the same way), the damping loop around the factorisation, and g_idx.
#include <algorithm>
#include <chrono>
#include <numeric>

#include <cublas_v2.h>
#include <cusolverDn.h>

#include "core/error.h"
#include "quant/cuda/gptq_blas.h"
#include "quant/cuda/gptq_cuda.h"
#include "quant/cuda/gptq_kernels.h"

namespace si::cuda {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Buffers of one call (never empty: a zero-byte request gets one byte).
struct Workspace {
  DeviceBuffer make(size_t n, const char* name) { return DeviceBuffer(std::max<size_t>(n, 1), name); }
};

}  // namespace

GptqSolverCuda::GptqSolverCuda(cudaStream_t s) : s_(s) {
  cublasHandle_t b = nullptr;
  check_cublas(cublasCreate(&b), "cublasCreate");
  blas_ = b;
  check_cublas(cublasSetStream(b, s), "cublasSetStream");
  check_cublas(cublasSetMathMode(b, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // fp32 never through TF32
  cusolverDnHandle_t d = nullptr;
  check_cusolver(cusolverDnCreate(&d), "cusolverDnCreate");
  solver_ = d;
  check_cusolver(cusolverDnSetStream(d, s), "cusolverDnSetStream");
}

GptqSolverCuda::~GptqSolverCuda() {
  if (solver_) cusolverDnDestroy(static_cast<cusolverDnHandle_t>(solver_));
  if (blas_) cublasDestroy(static_cast<cublasHandle_t>(blas_));
}

GptqResult GptqSolverCuda::quantize(float* w, int64_t out, int64_t in, const double* h, const GptqOptions& o, bool rtn) {
  const auto t0 = Clock::now();
  GptqLayout{o.bits, o.group_size, in, out}.validate("GPTQ");
  SI_CHECK(o.damp_percent > 0 && o.damp_percent < 1, "GPTQ: damp_percent {} must be in (0, 1)", o.damp_percent);
  SI_CHECK(o.block_size > 0 && o.block_size <= 128, "GPTQ (CUDA): block_size {} outside 1..128", o.block_size);
  cublasHandle_t blas = static_cast<cublasHandle_t>(blas_);
  GptqResult r;
  r.codes.layout = GptqLayout{o.bits, o.group_size, in, out};
  const int64_t G = r.codes.layout.n_groups(), gs = o.group_size < 0 ? in : o.group_size;
  const size_t nw = size_t(out * in), nh = size_t(in * in);

  Workspace ws;
  DeviceBuffer wt = ws.make(nw * 4, "gptq W^T"), qt = ws.make(nw, "gptq codes^T"), wqt = ws.make(nw * 4, "gptq Q^T"),
               q = ws.make(nw, "gptq codes"), wq = ws.make(nw * 4, "gptq Q"), gscale = ws.make(size_t(out) * 4, "grid"),
               gzero = ws.make(size_t(out) * 4, "grid"), scales = ws.make(size_t(G * out) * 2, "gptq scales"),
               zeros = ws.make(size_t(G * out) * 4, "gptq zeros"), acc = ws.make(3 * sizeof(double), "gptq sums"),
               hf = ws.make(o.measure ? nh * 4 : 0, "gptq H fp32"), tmp = ws.make(o.measure ? nw * 4 : 0, "gptq D H");
  double* sums = acc.as<double>();  // loss, ||W' - Q||^2, quadratic forms
  SI_CUDA_CHECK(cudaMemsetAsync(sums, 0, 3 * sizeof(double), s_));
  gptq::Grid grid{(1 << o.bits) - 1, o.sym, o.v1_zero && !o.sym, o.group_size, gscale.as<float>(), gzero.as<float>(),
                  scales.as<uint16_t>(), zeros.as<int32_t>()};
  gptq::transpose(w, out, in, wt.as<float>(), s_);
  // Per-channel: one grid from W as given (before dead inputs are zeroed), as on the CPU.
  if (o.group_size < 0) gptq::find_grid(wt.as<float>(), 0, in, out, 0, grid, s_);

  // tr(D H D^T) for D (out, in) on the device: T = D H by sgemm, then sum D .* T in fp64.
  auto quadratic = [&](const float* d) {
    const float one = 1.0f, zero = 0.0f;
    check_cublas(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, int(in), int(out), int(in), &one, hf.as<float>(), int(in), d,
                             int(in), &zero, tmp.as<float>(), int(in)),
                 "cublasSgemm (error)");
    SI_CUDA_CHECK(cudaMemsetAsync(sums + 2, 0, sizeof(double), s_));
    gptq::dot(d, tmp.as<float>(), int64_t(nw), sums + 2, s_);
    double v = 0;
    SI_CUDA_CHECK(cudaMemcpyAsync(&v, sums + 2, sizeof(double), cudaMemcpyDeviceToHost, s_));
    SI_CUDA_CHECK(cudaStreamSynchronize(s_));
    return v;
  };
  if (o.measure) {
    gptq::to_f32(h, int64_t(nh), hf.as<float>(), s_);
    r.ref = quadratic(w);
  }

  std::vector<int32_t> perm(static_cast<size_t>(in));
  std::iota(perm.begin(), perm.end(), 0);
  DeviceBuffer dperm = ws.make(size_t(in) * 4, "gptq perm"), dead = ws.make(size_t(in), "gptq dead");
  double lambda = 0;
  r.damp = o.damp_percent;
  if (rtn) {
    // Natural order, nothing zeroed, no feedback: the CPU's rtn_quantize.
    SI_CUDA_CHECK(cudaMemcpyAsync(dperm.data(), perm.data(), size_t(in) * 4, cudaMemcpyHostToDevice, s_));
    for (int64_t i1 = 0; i1 < in; i1 += 128)
      gptq::quantize_block(wt.as<float>(), nullptr, in, out, i1, int(std::min<int64_t>(128, in - i1)), grid, true,
                           qt.as<uint8_t>(), wqt.as<float>(), nullptr, sums, s_);
  } else {
    DeviceBuffer hw = ws.make(nh * 8, "gptq H"), hp = ws.make(o.desc_act ? nh * 8 : 0, "gptq H permuted"),
                 wp = ws.make(o.desc_act ? nw * 4 : 0, "gptq W^T permuted"), a = ws.make(nh * 8, "gptq factor"),
                 u = ws.make(nh * 4, "gptq U"), err = ws.make(size_t(o.block_size * out) * 4, "gptq block errors"),
                 ndead = ws.make(sizeof(int), "gptq dead count");
    SI_CUDA_CHECK(cudaMemcpyAsync(hw.data(), h, nh * 8, cudaMemcpyDeviceToDevice, s_));
    SI_CUDA_CHECK(cudaMemsetAsync(ndead.data(), 0, sizeof(int), s_));
    gptq::mark_dead(hw.as<double>(), wt.as<float>(), in, out, dead.as<uint8_t>(), ndead.as<int>(), s_);
    std::vector<double> diag(static_cast<size_t>(in));
    int n_dead = 0;
    SI_CUDA_CHECK(cudaMemcpy2DAsync(diag.data(), sizeof(double), hw.data(), size_t(in + 1) * sizeof(double),
                                    sizeof(double), size_t(in), cudaMemcpyDeviceToHost, s_));
    SI_CUDA_CHECK(cudaMemcpyAsync(&n_dead, ndead.data(), sizeof(int), cudaMemcpyDeviceToHost, s_));
    SI_CUDA_CHECK(cudaStreamSynchronize(s_));
    r.dead = n_dead;
    const double* hcur = hw.as<double>();
    float* wcur = wt.as<float>();
    if (o.desc_act) {
      std::stable_sort(perm.begin(), perm.end(), [&](int32_t x, int32_t y) { return diag[size_t(x)] > diag[size_t(y)]; });
      SI_CUDA_CHECK(cudaMemcpyAsync(dperm.data(), perm.data(), size_t(in) * 4, cudaMemcpyHostToDevice, s_));
      gptq::permute(hw.as<double>(), wt.as<float>(), dperm.as<int32_t>(), in, out, hp.as<double>(), wp.as<float>(), s_);
      hcur = hp.as<double>(), wcur = wp.as<float>();
    } else {
      SI_CUDA_CHECK(cudaMemcpyAsync(dperm.data(), perm.data(), size_t(in) * 4, cudaMemcpyHostToDevice, s_));
    }
    // Mean of the diagonal in processing order (the CPU's summation order).
    double mean = 0;
    for (int64_t i = 0; i < in; ++i) mean += diag[size_t(perm[size_t(i)])];
    mean /= double(in);

    // U: Cholesky of J H J + lambda I (lower, column-major), reversed = R upper with H = R R^T,
    // inverted: U = R^-1 (quant/gptq.cpp inverse_cholesky_upper). Damping grows until it works.
    const auto tf = Clock::now();
    cusolverDnHandle_t sol = static_cast<cusolverDnHandle_t>(solver_);
    int lwork = 0;
    check_cusolver(cusolverDnDpotrf_bufferSize(sol, CUBLAS_FILL_MODE_LOWER, int(in), a.as<double>(), int(in), &lwork),
                   "cusolverDnDpotrf_bufferSize");
    size_t tri_dev = 0, tri_host = 0;
    check_cusolver(cusolverDnXtrtri_bufferSize(sol, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, in, CUDA_R_64F,
                                               a.data(), in, &tri_dev, &tri_host),
                   "cusolverDnXtrtri_bufferSize");
    DeviceBuffer work = ws.make(std::max(size_t(lwork) * sizeof(double), tri_dev), "cusolver workspace"),
                 dinfo = ws.make(sizeof(int), "cusolver info");
    std::vector<uint8_t> host_work(tri_host);
    for (;;) {
      lambda = r.damp * mean;
      gptq::reverse_damp(hcur, in, lambda, a.as<double>(), s_);
      int info = 0;
      check_cusolver(cusolverDnDpotrf(sol, CUBLAS_FILL_MODE_LOWER, int(in), a.as<double>(), int(in), work.as<double>(),
                                      lwork, dinfo.as<int>()),
                     "cusolverDnDpotrf");
      SI_CUDA_CHECK(cudaMemcpyAsync(&info, dinfo.data(), sizeof(int), cudaMemcpyDeviceToHost, s_));
      SI_CUDA_CHECK(cudaStreamSynchronize(s_));
      if (info == 0) {
        gptq::reverse(a.as<double>(), in, s_);
        check_cusolver(cusolverDnXtrtri(sol, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, in, CUDA_R_64F, a.data(), in,
                                        work.data(), work.bytes(), host_work.data(), tri_host, dinfo.as<int>()),
                       "cusolverDnXtrtri");
        SI_CUDA_CHECK(cudaMemcpyAsync(&info, dinfo.data(), sizeof(int), cudaMemcpyDeviceToHost, s_));
        SI_CUDA_CHECK(cudaStreamSynchronize(s_));
      }
      if (info == 0) break;
      SI_CHECK(r.damp + 0.01 < 1, "GPTQ: the Hessian is not positive definite even with damp_percent {:.2f}", r.damp);
      r.damp += 0.01;
    }
    gptq::upper_f32(a.as<double>(), in, u.as<float>(), s_);
    SI_CUDA_CHECK(cudaStreamSynchronize(s_));
    r.factor_seconds = seconds_since(tf);

    for (int64_t i1 = 0; i1 < in; i1 += o.block_size) {
      const int64_t i2 = std::min(i1 + int64_t(o.block_size), in), count = i2 - i1;
      gptq::quantize_block(wcur, u.as<float>(), in, out, i1, int(count), grid, false, qt.as<uint8_t>(), wqt.as<float>(),
                           err.as<float>(), sums, s_);
      // Lazy batch update: Wt[i2:] -= U[i1:i2, i2:]^T Err (column-major: (out, in - i2) -= Err (out, count) U_blk).
      if (i2 < in) {
        const float minus = -1.0f, one = 1.0f;
        check_cublas(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, int(out), int(in - i2), int(count), &minus,
                                 err.as<float>(), int(out), u.as<float>() + i1 * in + i2, int(in), &one, wcur + i2 * out,
                                 int(out)),
                     "cublasSgemm (lazy update)");
      }
    }
  }
  gptq::unpermute(qt.as<uint8_t>(), wqt.as<float>(), dperm.as<int32_t>(), in, out, q.as<uint8_t>(), wq.as<float>(), s_);
  if (!rtn) gptq::sq_diff(w, wq.as<float>(), dead.as<uint8_t>(), out, in, sums + 1, s_);
  double host_sums[2] = {0, 0};
  SI_CUDA_CHECK(cudaMemcpyAsync(host_sums, sums, 2 * sizeof(double), cudaMemcpyDeviceToHost, s_));
  r.codes.q.resize(nw);
  r.codes.scale.resize(size_t(G * out));
  r.codes.zero.resize(size_t(G * out));
  SI_CUDA_CHECK(cudaMemcpyAsync(r.codes.q.data(), q.data(), nw, cudaMemcpyDeviceToHost, s_));
  SI_CUDA_CHECK(cudaMemcpyAsync(r.codes.scale.data(), scales.data(), size_t(G * out) * 2, cudaMemcpyDeviceToHost, s_));
  SI_CUDA_CHECK(cudaMemcpyAsync(r.codes.zero.data(), zeros.data(), size_t(G * out) * 4, cudaMemcpyDeviceToHost, s_));
  SI_CUDA_CHECK(cudaStreamSynchronize(s_));
  r.loss = host_sums[0];
  if (o.measure) {
    if (rtn) {
      gptq::sub(w, wq.as<float>(), int64_t(nw), tmp.as<float>(), s_);  // D = W - Q, then tr(D H D^T)
      SI_CUDA_CHECK(cudaMemcpyAsync(wqt.data(), tmp.data(), nw * 4, cudaMemcpyDeviceToDevice, s_));
      r.err = quadratic(wqt.as<float>());
    } else {
      // GPTQ's identity (quant/gptq.cpp): tr((W' - Q)(H + lambda I)(W' - Q)^T) = 2 loss.
      r.err = std::max(0.0, 2.0 * r.loss - lambda * host_sums[1]);
    }
  }
  r.codes.g_idx.resize(size_t(in));
  for (int64_t k = 0; k < in; ++k) r.codes.g_idx[size_t(perm[size_t(k)])] = int32_t(o.group_size < 0 ? 0 : k / gs);
  SI_CUDA_CHECK(cudaMemcpyAsync(w, wq.data(), nw * 4, cudaMemcpyDeviceToDevice, s_));
  SI_CUDA_CHECK(cudaStreamSynchronize(s_));
  size_t free_b = 0, total_b = 0;
  SI_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  peak_allocated_ = std::max(peak_allocated_, bytes_allocated());
  peak_used_ = std::max(peak_used_, total_b - free_b);
  r.seconds = seconds_since(t0);
  return r;
}

GptqResult gptq_quantize_cuda(const float* w, int64_t out, int64_t in, const GptqHessian& h, const GptqOptions& o,
                              bool rtn) {
  SI_CHECK(h.in() == in, "GPTQ: Hessian is {} x {}, the layer has {} inputs", h.in(), h.in(), in);
  Stream s;
  const big_vector<double> hm = h.matrix();
  DeviceBuffer dw(size_t(out * in) * 4, "w"), dh(hm.size() * 8, "h");
  dw.upload(w, dw.bytes(), s);
  dh.upload(hm.data(), dh.bytes(), s);
  GptqSolverCuda solver(s.get());
  GptqResult r = solver.quantize(dw.as<float>(), out, in, dh.as<double>(), o, rtn);
  r.w.resize(size_t(out * in));
  dw.download(r.w.data(), dw.bytes(), s);
  s.sync();
  return r;
}

}  // namespace si::cuda
