// bench_cuda_forward — the CUDA runner on Llama-3.2-1B's architecture with random FP16 weights
// (made on the device): 64-token prefill, decode steps (CUDA graphs), and the paper-style job
// (64-token prompt, greedy 8 new tokens over the full 128k vocabulary), at several batch sizes.
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

namespace {

using namespace si;

constexpr int kPrompt = 64, kNew = 8;

std::unique_ptr<CudaLlamaRunner> make_runner(int slots, int max_tokens) {
  return CudaLlamaRunner::random(llama_config_preset("llama-3.2-1b"), 1,
                                 {.n_slots = slots, .capacity = 256, .max_tokens = max_tokens,
                                  .graphs = true, .graph_max_tokens = 256});
}

std::vector<int32_t> prompt(int b) {
  std::vector<int32_t> p(kPrompt);
  for (int i = 0; i < kPrompt; ++i) p[size_t(i)] = int32_t((b * 7919 + i * 104729) % 128000);
  return p;
}

void prefill_all(CudaLlamaRunner& r, int B, const std::vector<std::vector<int32_t>>& ps, float* hidden) {
  std::vector<CudaLlamaRunner::Append> batch;
  for (int b = 0; b < B; ++b) {
    r.clear(b);
    batch.push_back({b, ps[size_t(b)].data(), kPrompt});
  }
  r.append(batch, hidden);
}

void BM_Prefill64(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, B * kPrompt);
  std::vector<std::vector<int32_t>> ps;
  for (int b = 0; b < B; ++b) ps.push_back(prompt(b));
  std::vector<float> hidden(size_t(B) * 2048);
  for (int i = 0; i < 2; ++i) prefill_all(*r, B, ps, hidden.data());  // warm-up (plans, graph)
  for (auto _ : st) prefill_all(*r, B, ps, hidden.data());
  st.counters["queries/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["tokens/s"] = benchmark::Counter(double(B) * kPrompt, benchmark::Counter::kIsIterationInvariantRate);
}

// One decode step for B sequences at position ~64 (the step's KV appends are undone by clearing
// and re-sharing nothing: positions advance, capped well inside the capacity by re-prefilling).
void BM_DecodeStep(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, std::max(B * kPrompt, B));
  std::vector<std::vector<int32_t>> ps;
  for (int b = 0; b < B; ++b) ps.push_back(prompt(b));
  std::vector<float> hidden(size_t(B) * 2048);
  prefill_all(*r, B, ps, hidden.data());
  std::vector<int32_t> tok(static_cast<size_t>(B), 42);
  std::vector<CudaLlamaRunner::Append> step;
  for (int b = 0; b < B; ++b) step.push_back({b, &tok[size_t(b)], 1});
  for (int i = 0; i < 3; ++i) r->append(step, hidden.data());  // eager, capture, replay
  for (auto _ : st) {
    if (r->length(0) >= 200) {
      st.PauseTiming();
      prefill_all(*r, B, ps, hidden.data());
      st.ResumeTiming();
    }
    r->append(step, hidden.data());
  }
  st.counters["tokens/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

// Prompt of 64, then 8 greedy tokens over the full vocabulary (argmax on the host), B sequences.
void BM_PaperJob(benchmark::State& st) {
  const int B = int(st.range(0));
  auto r = make_runner(B, B * kPrompt);
  const int V = r->config().vocab_size;
  std::vector<std::vector<int32_t>> ps;
  for (int b = 0; b < B; ++b) ps.push_back(prompt(b));
  std::vector<float> hidden(size_t(B) * 2048), logits(size_t(B) * size_t(V));
  std::vector<int32_t> tok(static_cast<size_t>(B));
  auto job = [&] {
    prefill_all(*r, B, ps, hidden.data());
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
  };
  for (int i = 0; i < 3; ++i) job();
  for (auto _ : st) job();
  st.counters["queries/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_Prefill64)->ArgName("batch")->Arg(1)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DecodeStep)->ArgName("batch")->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PaperJob)->ArgName("batch")->Arg(1)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();

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
