// The CPU GptqBackend: fp32 activations of all samples at once, matmuls on ops/cpu/sgemm over the
// backend's pool, fp64 Hessians.
#include <algorithm>

#include <fmt/format.h>

#include "core/thread_pool.h"
#include "ops/rms_norm.h"
#include "ops/swiglu.h"
#include "quant/gptq_backend.h"

namespace si {
namespace {

class CpuBackend final : public GptqBackend {
 public:
  CpuBackend(const LlamaConfig& cfg, const CalibSet& cs, int threads)
      : cfg_(cfg), pool_(threads), f_(cfg, cs, pool_), N_(cs.n_tokens()), S_(cs.samples()) {
    const int64_t C = cfg.hidden_size, Q = cfg.q_dim(), KV = cfg.kv_dim(), F = cfg.intermediate_size;
    x_.resize(size_t(N_ * C)), xn_.resize(x_.size()), q_.resize(size_t(N_ * Q)), att_.resize(q_.size());
    k_.resize(size_t(N_ * KV)), v_.resize(k_.size()), gate_.resize(size_t(N_ * F));
    up_.resize(size_t(std::min(N_, kRows) * F));
  }

  void embed(const TensorView& table) override { f_.embed(table, x_.data()); }
  void load_layer(GptqLayerWeights&& w) override { w_ = std::move(w); }

  void attention_inputs() override { norm(w_.attn_norm); }

  void attention() override {
    const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    linear(pool_, xn_.data(), w_.w[kGptqQ].data(), N_, C, Q, q_.data());
    linear(pool_, xn_.data(), w_.w[kGptqK].data(), N_, C, KV, k_.data());
    linear(pool_, xn_.data(), w_.w[kGptqV].data(), N_, C, KV, v_.data());
    f_.attention(q_.data(), k_.data(), v_.data(), att_.data());
  }

  void attention_output() override {
    linear(pool_, att_.data(), w_.w[kGptqO].data(), N_, cfg_.q_dim(), cfg_.hidden_size, xn_.data());
    add_residual();
    norm(w_.ffn_norm);
  }

  void mlp() override {
    const int64_t C = cfg_.hidden_size, F = cfg_.intermediate_size;
    linear(pool_, xn_.data(), w_.w[kGptqGate].data(), N_, C, F, gate_.data());
    // up in row chunks: a second (N, F) buffer would be the largest allocation of the run.
    for (int64_t r0 = 0; r0 < N_; r0 += kRows) {
      const int64_t n = std::min(kRows, N_ - r0);
      linear(pool_, xn_.data() + r0 * C, w_.w[kGptqUp].data(), n, C, F, up_.data());
      TensorView g{gate_.data() + r0 * F, DType::F32, {n, F}};
      ops::swiglu(g, TensorView{up_.data(), DType::F32, {n, F}}, g, pool_);
    }
  }

  void mlp_output() override {
    linear(pool_, gate_.data(), w_.w[kGptqDown].data(), N_, cfg_.intermediate_size, cfg_.hidden_size, xn_.data());
    add_residual();
  }

  void hessian(GptqAct a) override {
    const auto [data, width] = buffer(a);
    h_ = GptqHessian(width);
    h_.add(data, N_, S_, &pool_);
  }

  GptqResult quantize(GptqProj p, const GptqOptions& o, bool rtn) override {
    big_vector<float>& w = w_.w[p];
    const int64_t in = h_.in(), out = int64_t(w.size()) / in;
    GptqResult r = rtn ? rtn_quantize(w.data(), out, in, o, &h_, &pool_) : gptq_quantize(w.data(), out, in, h_, o, &pool_);
    w = std::move(r.w);
    r.w.clear();
    return r;
  }

  std::vector<float> activation(GptqAct a) override {
    const auto [data, width] = buffer(a);
    return std::vector<float>(data, data + N_ * width);
  }

  std::string memory_note() const override {
    size_t n = 0;
    for (const auto* b : {&x_, &xn_, &q_, &att_, &k_, &v_, &gate_, &up_}) n += b->size();
    return fmt::format("activations {:.2f} GiB (host fp32, grow with tokens)", double(n) * 4 / (1 << 30));
  }

 private:
  static constexpr int64_t kRows = 1024;

  std::pair<const float*, int64_t> buffer(GptqAct a) const {
    switch (a) {
      case GptqAct::x: return {x_.data(), cfg_.hidden_size};
      case GptqAct::xn: return {xn_.data(), cfg_.hidden_size};
      case GptqAct::q: return {q_.data(), cfg_.q_dim()};
      case GptqAct::k: return {k_.data(), cfg_.kv_dim()};
      case GptqAct::v: return {v_.data(), cfg_.kv_dim()};
      case GptqAct::att: return {att_.data(), cfg_.q_dim()};
      case GptqAct::gate: return {gate_.data(), cfg_.intermediate_size};
    }
    return {nullptr, 0};
  }
  TensorView view(big_vector<float>& b, int64_t cols) { return TensorView{b.data(), DType::F32, {N_, cols}}; }
  void norm(big_vector<float>& w) {
    const int64_t C = cfg_.hidden_size;
    ops::rms_norm(view(x_, C), TensorView{w.data(), DType::F32, {C}}, cfg_.rms_norm_eps, view(xn_, C), pool_);
  }
  void add_residual() { ops::add(view(x_, cfg_.hidden_size), view(xn_, cfg_.hidden_size), pool_); }

  const LlamaConfig& cfg_;
  ThreadPool pool_;
  CalibForward f_;
  int64_t N_, S_;
  // (N, C) x, xn (xn also takes the Linears' outputs added to x); (N, Q) q, att; (N, KV) k, v;
  // (N, F) gate (the SwiGLU); (kRows, F) up.
  big_vector<float> x_, xn_, q_, att_, k_, v_, gate_, up_;
  GptqLayerWeights w_;
  GptqHessian h_{1};
};

}  // namespace

std::unique_ptr<GptqBackend> make_gptq_backend_cpu(const LlamaConfig& cfg, const CalibSet& cs, int threads) {
  return std::make_unique<CpuBackend>(cfg, cs, threads);
}

}  // namespace si
