// bench_cuda_forward — the CUDA runner on Llama-3.2-1B's architecture with random FP16 weights
// (made on the device): 64-token prefill, decode steps (CUDA graphs), and the paper-style job
// (64-token prompt, greedy 8 new tokens over the full 128k vocabulary; argmax on the GPU: with
// generate_greedy (no host round trip between steps), with one append_greedy call per token, and
// once the old way, logits copied to the host), at several batch sizes; and the attention op alone
// at decode shapes. `pdl:0` rows launch every kernel without programmatic dependent launch
// (cuda::set_pdl), for comparison. `fp8:1` rows run passes of 64 tokens or more with the Linears'
// e4m3 copies (CudaRunnerOptions::fp8_min_tokens; fast accumulation, the default), `fp8:2` the same
// with cuBLASLt's fp32 promotion of the sums. Fixed iteration counts keep the whole program short
// on the GPU machine.
//
//   build/gpu/bench/bench_cuda_forward            # on the GPU machine (scripts/gpu-check.sh bench)
//
// Times are wall-clock per iteration (each ends with the hidden states or logits on the host);
// counters give queries/s (sequences finished per second) and tokens/s.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "model/cuda/llama_runner_cuda.h"
#include "ops/cuda/cuda_ops.h"

namespace {

using namespace si;

constexpr int kPrompt = 64, kNew = 8;

// pdl: whether the runner's kernels (and the graphs it captures) use programmatic dependent launch;
// fp8: 0 FP16 matmuls, 1 FP8 for passes of a whole prompt or more, 2 the same without fast accumulation.
std::unique_ptr<CudaLlamaRunner> make_runner(int slots, int max_tokens, bool pdl = true, int64_t fp8 = 0) {
  cuda::set_pdl(pdl);
  return CudaLlamaRunner::random(llama_config_preset("llama-3.2-1b"), 1,
                                 {.n_slots = slots, .capacity = 256, .max_tokens = max_tokens,
                                  .graphs = true, .graph_max_tokens = 256,
                                  .fp8_min_tokens = fp8 > 0 ? kPrompt : 0, .fp8_fast_accum = fp8 != 2});
}

std::vector<int32_t> prompt(int b) {
  std::vector<int32_t> p(kPrompt);
  for (int i = 0; i < kPrompt; ++i) p[size_t(i)] = int32_t((b * 7919 + i * 104729) % 128000);
  return p;
}

// The B prompts of a job.
std::vector<std::vector<int32_t>> prompts(int B) {
  std::vector<std::vector<int32_t>> ps;
  for (int b = 0; b < B; ++b) ps.push_back(prompt(b));
  return ps;
}

// Empties the B slots and points batch[b] at prompt b (the start of every job).
void start_prompts(CudaLlamaRunner& r, const std::vector<std::vector<int32_t>>& ps,
                   std::vector<CudaLlamaRunner::Append>& batch) {
  batch.resize(ps.size());
  for (size_t b = 0; b < ps.size(); ++b) {
    r.clear(int(b));
    batch[b] = {int(b), ps[b].data(), kPrompt};
  }
}

// Three untimed jobs (eager passes, graph captures, a replay), then the timed ones.
template <typename Job>
void time_job(benchmark::State& st, int B, Job&& job) {
  for (int i = 0; i < 3; ++i) job();
  for (auto _ : st) job();
  st.counters["queries/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

void prefill_all(CudaLlamaRunner& r, const std::vector<std::vector<int32_t>>& ps, float* hidden) {
  std::vector<CudaLlamaRunner::Append> batch;
  start_prompts(r, ps, batch);
  r.append(batch, hidden);
}

void BM_Prefill64(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, B * kPrompt, true, st.range(1));
  const auto ps = prompts(B);
  std::vector<float> hidden(size_t(B) * 2048);
  for (int i = 0; i < 2; ++i) prefill_all(*r, ps, hidden.data());  // warm-up (plans, graph)
  for (auto _ : st) prefill_all(*r, ps, hidden.data());
  st.counters["queries/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["tokens/s"] = benchmark::Counter(double(B) * kPrompt, benchmark::Counter::kIsIterationInvariantRate);
}

// One decode step for B sequences at position ~64 (the step's KV appends are undone by clearing
// and re-sharing nothing: positions advance, capped well inside the capacity by re-prefilling).
void BM_DecodeStep(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, std::max(B * kPrompt, B), st.range(1) != 0);
  const auto ps = prompts(B);
  std::vector<float> hidden(size_t(B) * 2048);
  prefill_all(*r, ps, hidden.data());
  std::vector<int32_t> tok(static_cast<size_t>(B), 42);
  std::vector<CudaLlamaRunner::Append> step;
  for (int b = 0; b < B; ++b) step.push_back({b, &tok[size_t(b)], 1});
  for (int i = 0; i < 3; ++i) r->append(step, hidden.data());  // eager, capture, replay
  for (auto _ : st) {
    if (r->length(0) >= 200) {
      st.PauseTiming();
      prefill_all(*r, ps, hidden.data());
      st.ResumeTiming();
    }
    r->append(step, hidden.data());
  }
  st.counters["tokens/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

// Prompt of 64, then 8 greedy tokens over the full vocabulary, B sequences: the LM head and the
// argmax run on the GPU inside each step's graph; only token ids come back. generate_greedy: the
// steps follow each other on the device, one download at the end.
void BM_PaperJob(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, B * kPrompt, st.range(1) != 0, st.range(2));
  const auto ps = prompts(B);
  std::vector<int32_t> out(size_t(B) * kNew);
  std::vector<CudaLlamaRunner::Append> batch;
  time_job(st, B, [&] {
    start_prompts(*r, ps, batch);
    r->generate_greedy(batch, kNew, out.data());
  });
}

// The same job through one append_greedy call per token (the host waits for each step's ids).
void BM_PaperJobPerStep(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, B * kPrompt);
  const auto ps = prompts(B);
  std::vector<int32_t> tok(static_cast<size_t>(B));
  std::vector<CudaLlamaRunner::Append> batch;
  time_job(st, B, [&] {
    start_prompts(*r, ps, batch);
    r->append_greedy(batch, tok.data());  // token 1
    for (int i = 1; i < kNew; ++i) {
      for (int b = 0; b < B; ++b) batch[size_t(b)] = {b, &tok[size_t(b)], 1};
      r->append_greedy(batch, tok.data());
    }
  });
}

// The same job with the full logits copied to the host and the argmax taken there (before the
// GPU argmax): what that copy costs.
void BM_PaperJobHostArgmax(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, B * kPrompt);
  const int V = r->config().vocab_size;
  const auto ps = prompts(B);
  std::vector<float> hidden(size_t(B) * 2048), logits(size_t(B) * size_t(V));
  std::vector<int32_t> tok(static_cast<size_t>(B));
  time_job(st, B, [&] {
    prefill_all(*r, ps, hidden.data());
    for (int i = 0; i < kNew; ++i) {
      r->logits(hidden.data(), B, {}, logits.data());
      for (int b = 0; b < B; ++b) {
        const float* l = logits.data() + size_t(b) * size_t(V);
        tok[size_t(b)] = int32_t(std::max_element(l, l + V) - l);
      }
      if (i + 1 == kNew) break;
      std::vector<CudaLlamaRunner::Append> step;
      for (int b = 0; b < B; ++b) step.push_back({b, &tok[size_t(b)], 1});
      r->append(step, hidden.data());
    }
  });
}

}  // namespace

// The attention op alone at decode shapes of Llama-3.2-1B (32 query heads, 8 kv heads, head_dim
// 64): B tokens, each at context n, 16 launches (one per layer) captured in a graph and replayed.
void BM_DecodeAttention(benchmark::State& st) {
  const int B = int(st.range(0)), n = int(st.range(1)), H = 32, KVH = 8, D = 64, cap = 512, layers = 16;
  cuda::Stream s;
  const int64_t cache_elems = int64_t(B) * KVH * cap * D;
  cuda::DeviceBuffer k(size_t(cache_elems) * 2, "k"), v(size_t(cache_elems) * 2, "v"), q(size_t(B) * H * D * 2, "q"),
      out(size_t(B) * H * D * 2, "out"), meta(size_t(B) * sizeof(cuda::TokenMeta), "meta");
  cuda::fill_random(DType::F16, k.data(), cache_elems, 1, 1.0f, 0.0f, s.get());
  cuda::fill_random(DType::F16, v.data(), cache_elems, 2, 1.0f, 0.0f, s.get());
  cuda::fill_random(DType::F16, q.data(), int64_t(B) * H * D, 3, 1.0f, 0.0f, s.get());
  std::vector<cuda::TokenMeta> m;
  for (int b = 0; b < B; ++b) m.push_back({b, n - 1, b, 0});
  meta.upload(m.data(), m.size() * sizeof(cuda::TokenMeta), s);
  const cuda::KvLayer kv{k.data(), v.data(), DType::F16, KVH, D, cap};
  cudaGraph_t g;
  SI_CUDA_CHECK(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeThreadLocal));
  for (int l = 0; l < layers; ++l)
    cuda::attention(DType::F16, q.data(), int64_t(H) * D, out.data(), int64_t(H) * D, B, H, kv,
                    meta.as<cuda::TokenMeta>(), s.get());
  SI_CUDA_CHECK(cudaStreamEndCapture(s.get(), &g));
  cudaGraphExec_t e;
  SI_CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
  cudaGraphDestroy(g);
  cudaEvent_t a, b;
  SI_CUDA_CHECK(cudaEventCreate(&a));
  SI_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) SI_CUDA_CHECK(cudaGraphLaunch(e, s.get()));
  double total_ms = 0;
  for (auto _ : st) {
    SI_CUDA_CHECK(cudaEventRecord(a, s.get()));
    SI_CUDA_CHECK(cudaGraphLaunch(e, s.get()));
    SI_CUDA_CHECK(cudaEventRecord(b, s.get()));
    SI_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    SI_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    st.SetIterationTime(double(ms) * 1e-3);
    total_ms += ms;
  }
  st.counters["us_per_layer"] = total_ms * 1e3 / double(st.iterations()) / layers;
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(e);
}

BENCHMARK(BM_Prefill64)->ArgNames({"batch", "fp8"})->Args({1, 0})->Args({1, 1})->Iterations(50)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Prefill64)->ArgNames({"batch", "fp8"})->Args({16, 0})->Args({16, 1})->Iterations(20)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Prefill64)->ArgNames({"batch", "fp8"})->Args({256, 0})->Args({256, 1})->Args({256, 2})->Iterations(5)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DecodeStep)->ArgNames({"batch", "pdl"})->Args({1, 1})->Args({1, 0})->Args({16, 1})->Args({64, 1})
    ->Iterations(100)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DecodeAttention)->ArgNames({"batch", "ctx"})->Args({1, 72})->Args({1, 200})->Args({32, 200})
    ->Iterations(50)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(BM_PaperJob)->ArgNames({"batch", "pdl", "fp8"})->Args({1, 1, 0})->Args({1, 0, 0})->Iterations(30)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PaperJobPerStep)->ArgName("batch")->Arg(1)->Iterations(30)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PaperJob)->ArgNames({"batch", "pdl", "fp8"})->Args({128, 1, 0})->Args({128, 1, 1})->Iterations(5)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PaperJobHostArgmax)->ArgName("batch")->Arg(1)->Iterations(10)->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!si::cuda::available()) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  std::printf("device: %s\n", si::cuda::device_description().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
