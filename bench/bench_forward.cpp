// bench_forward — matmul kernels per weight type, and prefill/decode of a model, on 2 threads.
//
//   build/release/bench/bench_forward                                   # kernels only
//   SI_BENCH_MODEL=/tmp/r.gguf build/release/bench/bench_forward        # + pp64 / tg of that model
//
// Shapes are Llama-3.2-1B's FFN (8192 x 2048). Report GB/s of weights for M = 1 (decode is
// bandwidth-bound: compare with the machine's ~30 GB/s) and GFLOP/s for M = 64 (prefill).
// For llama-bench-style end-to-end numbers use `shopintent perf`.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "core/half.h"
#include "model/llama_runner.h"
#include "ops/cpu/quants.h"
#include "ops/matmul.h"

namespace {

using si::DType;

void BM_Matmul(benchmark::State& st, DType dt) {
  const int64_t M = st.range(0), N = 8192, K = 2048;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> wf(size_t(N * K)), x(size_t(M * K)), y(size_t(M * N));
  for (auto& v : wf) v = nd(rng);
  for (auto& v : x) v = nd(rng) * 50.0f;
  const size_t rb = si::dtype_row_bytes(dt, uint64_t(K));
  std::vector<uint8_t> w(rb * size_t(N));
  si::cpu::quantize_rows(dt, wf.data(), w.data(), N, K);
  si::ThreadPool pool(2);
  si::TensorView wv{w.data(), dt, {N, K}}, xv{x.data(), DType::F32, {M, K}}, yv{y.data(), DType::F32, {M, N}};
  for (auto _ : st) {
    si::ops::matmul(xv, wv, yv, pool);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB/s_w"] = benchmark::Counter(double(w.size()), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(M * N * K) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Model(benchmark::State& st) {
  const char* path = std::getenv("SI_BENCH_MODEL");
  if (!path) {
    st.SkipWithError("set SI_BENCH_MODEL to a GGUF / HF model");
    return;
  }
  static std::unique_ptr<si::LlamaModel> model;
  if (!model) model = std::make_unique<si::LlamaModel>(si::LlamaModel::load(path));
  const int n = int(st.range(0));
  si::LlamaRunner r(*model, {.n_threads = 2, .n_slots = 1, .capacity = 128});
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[size_t(i)] = (i * 7919) % model->config().vocab_size;
  std::vector<float> h(static_cast<size_t>(model->config().hidden_size)), l(static_cast<size_t>(model->config().vocab_size));
  for (auto _ : st) {
    r.cache().clear(0);
    if (n > 1) {  // pp: one batch
      si::LlamaRunner::Append a{0, ids.data(), n};
      r.append({&a, 1}, h.data());
      r.logits(h.data(), 1, {}, l.data());
    } else {  // tg: 16 decode steps
      for (int i = 0; i < 16; ++i) {
        si::LlamaRunner::Append a{0, &ids[0], 1};
        r.append({&a, 1}, h.data());
        r.logits(h.data(), 1, {}, l.data());
      }
    }
  }
  st.counters["tok/s"] = benchmark::Counter(n > 1 ? n : 16, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Matmul, F16, DType::F16)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Matmul, Q8_0, DType::Q8_0)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Matmul, Q4_0, DType::Q4_0)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Matmul, Q4_K, DType::Q4_K)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Matmul, Q6_K, DType::Q6_K)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Model)->Arg(64)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_MAIN();
