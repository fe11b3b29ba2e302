// The GptqBackend on the GPU: the CPU backend's steps (gptq_backend_cpu.cpp) with device buffers,
// cuBLAS sgemm for the Linears and the ops/cuda kernels (rms_norm, rope, kv_store + attention,
// swiglu, add) in fp32. Each step synchronizes at its end, so the driver's stage times are the
// device's. Each sample is one KV-cache slot, its tokens at positions 0.., as the CPU backend's
// per-sample causal attention.
#include <algorithm>

#include <cublas_v2.h>
#include <fmt/format.h>

#include "core/thread_pool.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"
#include "ops/embedding.h"
#include "ops/rope.h"
#include "quant/cuda/gptq_backend_cuda.h"
#include "quant/cuda/gptq_blas.h"
#include "quant/cuda/gptq_cuda.h"

namespace si {
namespace {

using cuda::DeviceBuffer;

class CudaBackend final : public GptqBackend {
 public:
  CudaBackend(const LlamaConfig& cfg, const CalibSet& cs)
      : cfg_(cfg), N_(cs.n_tokens()), S_(cs.samples()), hess_(1, s_.get()), solver_(s_.get()) {
    const int64_t C = cfg.hidden_size, Q = cfg.q_dim(), KV = cfg.kv_dim(), F = cfg.intermediate_size;
    cublasHandle_t b = nullptr;
    cuda::check_cublas(cublasCreate(&b), "cublasCreate");
    blas_ = b;
    cuda::check_cublas(cublasSetStream(b, s_.get()), "cublasSetStream");
    cuda::check_cublas(cublasSetMathMode(b, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // fp32, never TF32
    auto f32 = [&](int64_t n, const char* name) { return DeviceBuffer(size_t(n) * 4, name); };
    x_ = f32(N_ * C, "gptq x"), xn_ = f32(N_ * C, "gptq xn"), q_ = f32(N_ * Q, "gptq q"), att_ = f32(N_ * Q, "gptq att");
    k_ = f32(N_ * KV, "gptq k"), v_ = f32(N_ * KV, "gptq v"), gate_ = f32(N_ * F, "gptq gate"), up_ = f32(N_ * F, "gptq up");
    const std::pair<int64_t, int64_t> shape[7] = {{Q, C}, {KV, C}, {KV, C}, {C, Q}, {F, C}, {F, C}, {C, F}};
    for (int p = 0; p < 7; ++p) w_[p] = f32(shape[p].first * shape[p].second, "gptq weight");
    attn_norm_ = f32(C, "gptq norm"), ffn_norm_ = f32(C, "gptq norm");

    // RoPE frequencies, positions, and each token's cache slot (its sample) and position.
    const std::vector<float> inv_freq = ops::rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);
    inv_freq_ = f32(int64_t(inv_freq.size()), "gptq rope");
    inv_freq_.upload(inv_freq.data(), inv_freq_.bytes(), s_);
    std::vector<cuda::TokenMeta> meta(static_cast<size_t>(N_));
    int64_t cap = 1;
    for (int64_t s = 0; s < S_; ++s) {
      cap = std::max(cap, cs.len[size_t(s)]);
      for (int64_t t = 0; t < cs.len[size_t(s)]; ++t)
        meta[size_t(cs.start[size_t(s)] + t)] = {int32_t(s), int32_t(t), 0, 0};
    }
    pos_ = DeviceBuffer(size_t(N_) * 4, "gptq positions");
    pos_.upload(cs.pos.data(), pos_.bytes(), s_);
    meta_ = DeviceBuffer(size_t(N_) * sizeof(cuda::TokenMeta), "gptq token meta");
    meta_.upload(meta.data(), meta_.bytes(), s_);
    const int64_t cache = S_ * KV * cap;  // (S, KVH, cap, D)
    kc_ = f32(cache, "gptq k cache"), vc_ = f32(cache, "gptq v cache");
    kv_ = cuda::KvLayer{kc_.data(), vc_.data(), DType::F32, cfg.n_kv_heads, cfg.head_dim, int(cap)};
    tokens_ = cs.tokens;
    s_.sync();
  }

  ~CudaBackend() override { cublasDestroy(static_cast<cublasHandle_t>(blas_)); }

  void embed(const TensorView& table) override {
    // On the host (the table stays mapped; only the N rows go up).
    std::vector<float> x(size_t(N_ * cfg_.hidden_size));
    ThreadPool pool(4);
    ops::embedding(table, tokens_, TensorView{x.data(), DType::F32, {N_, cfg_.hidden_size}}, pool);
    x_.upload(x.data(), x.size() * 4, s_);
    s_.sync();
  }

  void load_layer(GptqLayerWeights&& w) override {
    for (int p = 0; p < 7; ++p) {
      SI_CHECK(w.w[p].size() * 4 == w_[p].bytes(), "GPTQ (CUDA): weight {} has {} values, expected {}", p, w.w[p].size(),
               w_[p].bytes() / 4);
      w_[p].upload(w.w[p].data(), w_[p].bytes(), s_);
    }
    attn_norm_.upload(w.attn_norm.data(), attn_norm_.bytes(), s_);
    ffn_norm_.upload(w.ffn_norm.data(), ffn_norm_.bytes(), s_);
    s_.sync();  // the host vectors die with `w`
  }

  void attention_inputs() override {
    norm(attn_norm_);
    s_.sync();
  }

  void attention() override {
    const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    const int H = cfg_.n_heads, KVH = cfg_.n_kv_heads, D = cfg_.head_dim;
    linear(xn_, kGptqQ, C, Q, q_);
    linear(xn_, kGptqK, C, KV, k_);
    linear(xn_, kGptqV, C, KV, v_);
    cuda::rope(DType::F32, q_.data(), Q, inv_freq_.as<float>(), pos_.as<int32_t>(), N_, H, D, false, s_.get());
    cuda::rope(DType::F32, k_.data(), KV, inv_freq_.as<float>(), pos_.as<int32_t>(), N_, KVH, D, false, s_.get());
    const auto* meta = meta_.as<cuda::TokenMeta>();
    cuda::kv_store(DType::F32, k_.data(), v_.data(), KV, kv_, meta, N_, s_.get());
    cuda::attention(DType::F32, q_.data(), Q, att_.data(), Q, N_, H, kv_, meta, s_.get());
    s_.sync();
  }

  void attention_output() override {
    linear(att_, kGptqO, cfg_.q_dim(), cfg_.hidden_size, xn_);
    add_residual();
    norm(ffn_norm_);
    s_.sync();
  }

  void mlp() override {
    const int64_t C = cfg_.hidden_size, F = cfg_.intermediate_size;
    linear(xn_, kGptqGate, C, F, gate_);
    linear(xn_, kGptqUp, C, F, up_);
    cuda::swiglu(DType::F32, gate_.data(), up_.data(), F, gate_.data(), N_, F, s_.get());
    s_.sync();
  }

  void mlp_output() override {
    linear(gate_, kGptqDown, cfg_.intermediate_size, cfg_.hidden_size, xn_);
    add_residual();
    s_.sync();
  }

  void hessian(GptqAct a) override {
    const auto [buf, width] = buffer(a);
    hess_.reset(width);
    hess_.add(buf->as<float>(), N_, S_);
    hess_.matrix();
    s_.sync();
  }

  GptqResult quantize(GptqProj p, const GptqOptions& o, bool rtn) override {
    const int64_t in = hess_.in(), out = int64_t(w_[p].bytes() / 4) / in;
    return solver_.quantize(w_[p].as<float>(), out, in, hess_.matrix(), o, rtn);
  }

  std::vector<float> activation(GptqAct a) override {
    const auto [buf, width] = buffer(a);
    std::vector<float> v(size_t(N_ * width));
    buf->download(v.data(), v.size() * 4, s_);
    s_.sync();
    return v;
  }

  std::string memory_note() const override {
    const double gib = double(1 << 30);
    if (solver_.peak_device_used() == 0)
      return fmt::format("GPU {}: activations, cache and weights {:.2f} GiB", cuda::device_description(),
                         double(cuda::bytes_allocated()) / gib);
    return fmt::format("GPU: {:.2f} GiB peak in our buffers; {:.2f} GiB in use on the device at the end of the largest "
                       "solve (CUDA context included; transient cuBLAS/cuSOLVER memory inside a solve comes on top)",
                       double(solver_.peak_allocated()) / gib, double(solver_.peak_device_used()) / gib);
  }

 private:
  std::pair<const DeviceBuffer*, int64_t> buffer(GptqAct a) const {
    switch (a) {
      case GptqAct::x: return {&x_, cfg_.hidden_size};
      case GptqAct::xn: return {&xn_, cfg_.hidden_size};
      case GptqAct::q: return {&q_, cfg_.q_dim()};
      case GptqAct::k: return {&k_, cfg_.kv_dim()};
      case GptqAct::v: return {&v_, cfg_.kv_dim()};
      case GptqAct::att: return {&att_, cfg_.q_dim()};
      case GptqAct::gate: return {&gate_, cfg_.intermediate_size};
    }
    return {nullptr, 0};
  }
  // y (N, out) = x (N, in) W_p^T; column-major: (out, N) = W (in, out)^T x (in, N).
  void linear(const DeviceBuffer& x, GptqProj p, int64_t in, int64_t out, DeviceBuffer& y) {
    const float one = 1.0f, zero = 0.0f;
    cuda::check_cublas(cublasSgemm(static_cast<cublasHandle_t>(blas_), CUBLAS_OP_T, CUBLAS_OP_N, int(out), int(N_), int(in),
                                   &one, w_[p].as<float>(), int(in), x.as<float>(), int(in), &zero, y.as<float>(), int(out)),
                       "cublasSgemm (linear)");
  }
  void norm(const DeviceBuffer& w) {
    cuda::rms_norm(DType::F32, x_.data(), w.as<float>(), cfg_.rms_norm_eps, DType::F32, xn_.data(), N_, cfg_.hidden_size,
                   s_.get());
  }
  void add_residual() { cuda::add(DType::F32, x_.data(), DType::F32, xn_.data(), N_ * cfg_.hidden_size, s_.get()); }

  const LlamaConfig& cfg_;
  int64_t N_, S_;
  cuda::Stream s_;
  void* blas_ = nullptr;  // cublasHandle_t
  cuda::GptqHessianCuda hess_;
  cuda::GptqSolverCuda solver_;
  std::vector<int32_t> tokens_;
  // (N, C) x, xn; (N, Q) q, att; (N, KV) k, v; (N, F) gate, up; the layer's weights (out, in) and norms (C).
  DeviceBuffer x_, xn_, q_, att_, k_, v_, gate_, up_, w_[7], attn_norm_, ffn_norm_;
  DeviceBuffer inv_freq_, pos_, meta_, kc_, vc_;  // (D/2), (N), (N), (S, KVH, cap, D) x 2
  cuda::KvLayer kv_;
};

}  // namespace

std::unique_ptr<GptqBackend> make_gptq_backend_cuda(const LlamaConfig& cfg, const CalibSet& cs) {
  return std::make_unique<CudaBackend>(cfg, cs);
}

}  // namespace si
