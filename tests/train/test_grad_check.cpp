// Gradient checks: every op's backward and the whole model's against central finite differences in
// fp64 (tolerance |analytic - numeric| <= 1e-7 + 1e-6 |numeric|, step 1e-6).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "ops/cpu/ref_backward.h"
#include "train/llama_train.h"
#include "train/rng.h"
#include "train_test_util.h"

namespace si {
namespace {

using Vec = std::vector<double>;

Vec randn(size_t n, uint64_t seed, double scale = 1.0) {
  train::Rng r(seed);
  Vec v(n);
  for (auto& x : v) x = r.normal() * scale;
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// Compares `analytic` with central differences of f() around the current values of x.
void expect_grad(const char* what, Vec& x, const Vec& analytic, const std::function<double()>& f) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const double h = 1e-6;
  int bad = 0;
  double max_err = 0;
  for (size_t i = 0; i < x.size(); i++) {
    const double keep = x[i];
    x[i] = keep + h;
    const double fp = f();
    x[i] = keep - h;
    const double fm = f();
    x[i] = keep;
    const double num = (fp - fm) / (2 * h);
    const double err = std::fabs(analytic[i] - num);
    max_err = std::max(max_err, err);
    if (err > 1e-7 + 1e-6 * std::fabs(num) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << " numeric " << num;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << x.size() << " gradients off (max abs err " << max_err << ")";
}

TEST(GradCheck, Embedding) {
  const int64_t N = 5, C = 3, V = 4;
  std::vector<int32_t> ids{1, 3, 1, 0, 2};
  Vec table = randn(size_t(V * C), 1), R = randn(size_t(N * C), 2), out(size_t(N * C)), dtable(size_t(V * C), 0.0);
  ref::embedding_backward(dtable.data(), R.data(), ids.data(), N, C);
  expect_grad("dtable", table, dtable, [&] {
    ref::embedding_forward(out.data(), ids.data(), table.data(), N, C);
    return dot(out, R);
  });
}

TEST(GradCheck, RmsNorm) {
  const int64_t N = 3, C = 7;
  Vec x = randn(size_t(N * C), 3), w = randn(size_t(C), 4), R = randn(size_t(N * C), 5);
  Vec y(size_t(N * C)), rstd(static_cast<size_t>(N)), dx(size_t(N * C), 0.0), dw(size_t(C), 0.0);
  auto f = [&] {
    ref::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
    return dot(y, R);
  };
  f();
  ref::rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), N, C);
  expect_grad("dx", x, dx, f);
  expect_grad("dw", w, dw, f);
}

TEST(GradCheck, Linear) {
  const int64_t N = 4, I = 5, O = 3;
  Vec x = randn(size_t(N * I), 6), W = randn(size_t(O * I), 7), R = randn(size_t(N * O), 8), y(size_t(N * O));
  Vec dx(size_t(N * I), 0.0), dW(size_t(O * I), 0.0);
  auto f = [&] {
    ref::linear_forward(y.data(), x.data(), W.data(), N, I, O);
    return dot(y, R);
  };
  ref::linear_backward(dx.data(), dW.data(), R.data(), x.data(), W.data(), N, I, O);
  expect_grad("dx", x, dx, f);
  expect_grad("dW", W, dW, f);
}

TEST(GradCheck, RopeLlama3) {
  const LlamaConfig c = test::tiny_train_config();
  const int64_t B = 2, T = 5, nh = 2, D = c.head_dim;
  std::vector<double> cos, sin;
  train::rope_tables<double>(c, T, cos, sin);
  Vec x = randn(size_t(B * T * nh * D), 9), R = randn(x.size(), 10), y;
  Vec dx = R;
  ref::rope_backward(dx.data(), cos.data(), sin.data(), B, T, nh, D);
  expect_grad("dx", x, dx, [&] {
    y = x;
    ref::rope_forward(y.data(), cos.data(), sin.data(), B, T, nh, D);
    return dot(y, R);
  });
  // A rotation keeps norms: catches a wrong pairing that a gradient check alone would accept.
  y = x;
  ref::rope_forward(y.data(), cos.data(), sin.data(), B, T, nh, D);
  EXPECT_NEAR(dot(y, y), dot(x, x), 1e-9 * dot(x, x));
}

TEST(GradCheck, RopeTablesLlama3Regimes) {
  // llama3 scaling: high frequencies unchanged, low ones divided by factor, the middle smoothed.
  LlamaConfig c = test::tiny_train_config();
  LlamaConfig plain = c;
  plain.rope_scaling.type = "none";
  std::vector<double> cs, ss, cp, sp;
  train::rope_tables<double>(c, 2, cs, ss);
  train::rope_tables<double>(plain, 2, cp, sp);
  const int64_t half = c.head_dim / 2;
  // Position 1: angle = inv_freq. Wavelengths 2*pi, 29.2, 135.7 against high/low limits 32/4=8, 32/1=32.
  auto angle = [&](const std::vector<double>& c_, const std::vector<double>& s_, int64_t i) {
    return std::atan2(s_[size_t(half + i)], c_[size_t(half + i)]);
  };
  const double factor = c.rope_scaling.factor;
  EXPECT_NEAR(angle(cs, ss, 0), angle(cp, sp, 0), 1e-7);  // high frequency: unchanged
  const double f1 = angle(cp, sp, 1), smooth = (32.0 / (2 * M_PI / f1) - 1.0) / 3.0;
  EXPECT_GT(smooth, 0.0);
  EXPECT_LT(smooth, 1.0);
  EXPECT_NEAR(angle(cs, ss, 1), (1 - smooth) * f1 / factor + smooth * f1, 1e-6 * f1);  // medium: smoothed
  EXPECT_NEAR(angle(cs, ss, 2), angle(cp, sp, 2) / factor, 1e-6 * angle(cp, sp, 2));    // low: divided by factor
}

TEST(GradCheck, CausalGqaAttention) {
  const int64_t B = 2, T = 4, H = 4, KV = 2, D = 3;
  Vec q = randn(size_t(B * T * H * D), 11), k = randn(size_t(B * T * KV * D), 12), v = randn(size_t(B * T * KV * D), 13);
  Vec R = randn(size_t(B * T * H * D), 14), out(R.size()), probs(size_t(B * H * T * T));
  Vec dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  auto f = [&] {
    ref::attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), B, T, H, KV, D);
    return dot(out, R);
  };
  f();
  ref::attention_backward(dq.data(), dk.data(), dv.data(), R.data(), probs.data(), q.data(), k.data(), v.data(), B, T, H, KV, D);
  expect_grad("dq", q, dq, f);
  expect_grad("dk", k, dk, f);
  expect_grad("dv", v, dv, f);
  // Causality: position 0 attends only to itself.
  for (int64_t h = 0; h < H; h++) EXPECT_EQ(probs[size_t(h * T * T)], 1.0);
}

TEST(GradCheck, SwiGlu) {
  const int64_t N = 3, F = 5;
  Vec g = randn(size_t(N * F), 15, 2.0), u = randn(size_t(N * F), 16), R = randn(size_t(N * F), 17), out(size_t(N * F));
  Vec dg(g.size(), 0.0), du(u.size(), 0.0);
  ref::swiglu_backward(dg.data(), du.data(), R.data(), g.data(), u.data(), N, F);
  auto f = [&] {
    ref::swiglu_forward(out.data(), g.data(), u.data(), N, F);
    return dot(out, R);
  };
  expect_grad("dgate", g, dg, f);
  expect_grad("dup", u, du, f);
}

TEST(GradCheck, MaskedCrossEntropy) {
  const int64_t N = 5, V = 6;
  std::vector<int32_t> targets{2, -1, 0, 5, -1};
  Vec logits = randn(size_t(N * V), 18, 3.0), d(size_t(N * V));
  int64_t n_valid = 0;
  const double loss = ref::cross_entropy_forward(logits.data(), targets.data(), N, V, &n_valid);
  EXPECT_EQ(n_valid, 3);
  EXPECT_GT(loss, 0.0);
  ref::cross_entropy_backward(d.data(), logits.data(), targets.data(), N, V, 1.0 / double(n_valid));
  for (int64_t j = 0; j < V; j++) EXPECT_EQ(d[size_t(V + j)], 0.0) << "masked row must get no gradient";
  expect_grad("dlogits", logits, d, [&] { return ref::cross_entropy_forward(logits.data(), targets.data(), N, V, nullptr); });
}

void check_model(train::ModelOptions opt, bool tied) {
  const LlamaConfig c = test::tiny_train_config(tied);
  train::TrainModel<double> m(c, opt);
  m.init_random(21, 0.3f);  // large weights so every path carries signal
  if (opt.method != train::Method::full) {
    m.init_adapters(22);
    // B = 0 at init would hide A's gradient: use random B for the check.
    train::Rng r(23);
    for (auto& e : m.adapters().entries)
      if (e.name.find("lora_B") != std::string::npos)
        for (int64_t i = 0; i < e.numel; i++) m.adapters().data[size_t(e.offset + i)] = r.normal() * 0.3;
  }
  m.set_dropout_step(5, 7);
  const train::Batch b = test::make_batch(2, 6, c.vocab_size, 2, 24);
  m.zero_grad();
  m.forward(b);
  EXPECT_EQ(m.n_loss_tokens(), 4 + 3);
  m.backward();
  const Vec grads = m.grads();
  Vec& params = m.trainable().data;
  expect_grad(train::method_name(opt.method), params, grads, [&] { return m.forward(b); });
}

TEST(GradCheck, WholeModelFull) {
  train::ModelOptions o;
  o.method = train::Method::full;
  check_model(o, true);
}

TEST(GradCheck, WholeModelFullUntiedCheckpointed) {
  train::ModelOptions o;
  o.method = train::Method::full;
  o.checkpoint_activations = true;
  check_model(o, false);
}

TEST(GradCheck, WholeModelLoraWithDropout) {
  train::ModelOptions o;
  o.method = train::Method::lora;
  o.lora.rank = 2;
  o.lora.alpha = 3.0f;
  o.lora.dropout = 0.25f;
  check_model(o, true);
}

TEST(GradCheck, CheckpointingGivesIdenticalGradients) {
  const LlamaConfig c = test::tiny_train_config();
  std::vector<float> g[2];
  for (int ck = 0; ck < 2; ck++) {
    train::ModelOptions o;
    o.method = train::Method::lora;
    o.lora.dropout = 0.1f;
    o.checkpoint_activations = ck == 1;
    train::TrainModel<float> m(c, o);
    m.init_random(1);
    m.init_adapters(2);
    for (auto& e : m.adapters().entries)  // non-zero B so every gradient flows
      if (e.name.find("lora_B") != std::string::npos) std::fill_n(m.adapters().data.begin() + e.offset, e.numel, 0.01f);
    m.set_dropout_step(3, 4);
    m.zero_grad();
    m.forward(test::make_batch(3, 7, c.vocab_size, 3, 5));
    m.backward();
    g[ck] = m.grads();
  }
  ASSERT_EQ(g[0].size(), g[1].size());
  EXPECT_TRUE(g[0] == g[1]) << "activation checkpointing must not change a single bit";
  double norm = 0;
  for (float x : g[0]) norm += double(x) * x;
  EXPECT_GT(norm, 0.0);
}

}  // namespace
}  // namespace si
