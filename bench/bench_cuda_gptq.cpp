// bench_cuda_gptq — the CUDA runner on Llama-3.2-1B's architecture with GPTQ 4-bit Linears (group
// 128) against FP16 Linears: decode steps at batch 1, 4 and 16 (CUDA graphs), and 64-token
// prefills at batch 1 and 4 (4-bit: the W4A16 kernel or dequantize + cuBLAS, by rows). The 4-bit
// runner runs twice: W4A16 as programmatic dependent launches (the default) and plainly
// ("gptq4_nopdl", for comparison). The 4-bit model
// is made here without files: random weights (uniform, std 0.02, as CudaLlamaRunner::random) per
// layer on the host, quantized by our RTN (quant/gptq.h, rtn_quantize) and packed by our
// checkpoint writer's gptq_pack, then uploaded as a GPTQ checkpoint would be. The tied embedding /
// LM head is FP16 in the FP16 runner, int8 in the 4-bit one (its default; "gptq4_f16head" keeps it
// FP16): greedy decode steps (BM_GreedyStep: the step, the final norm, the full LM head and the
// argmax in one graph) show what reading half the head saves. Prints the weight VRAM of each, as a
// share of FP16's, and a summary table at the end.
//
//   build/gpu/bench/bench_cuda_gptq            # on the GPU machine (scripts/gpu-check.sh bench)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "model/cuda/llama_runner_cuda.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/w4a16_v2.h"
#include "quant/gptq.h"
#include "quant/gptq_checkpoint.h"

namespace {

using namespace si;

constexpr int kPrompt = 64, kSlots = 16;

// Uniform in [-a, a), a = 0.02 * sqrt(3): std 0.02, from a hash of (seed, i) (fast, any order).
float uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float(z >> 40) / float(1 << 24) * 2.0f - 1.0f) * 0.0346410f;
}

std::vector<GptqPacked> rtn_layer(const LlamaConfig& c, int layer, ThreadPool& pool) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  const int64_t shape[kGptqLinears][2] = {{Q, C}, {KV, C}, {KV, C}, {C, Q}, {F, C}, {F, C}, {C, F}};
  std::vector<GptqPacked> out(kGptqLinears);
  pool.parallel_for(kGptqLinears, [&](int64_t b, int64_t e, int) {
    for (int64_t p = b; p < e; ++p) {
      const int64_t rows = shape[p][0], cols = shape[p][1];
      std::vector<float> w(size_t(rows * cols));
      for (size_t i = 0; i < w.size(); ++i) w[i] = uniform(uint64_t(layer * 16 + p), i);
      GptqOptions o;
      o.bits = 4;
      o.group_size = 128;
      o.measure = false;
      out[size_t(p)] = gptq_pack(rtn_quantize(w.data(), rows, cols, o).codes, GptqFormat::v1);
    }
  });
  return out;
}

CudaRunnerOptions options() {
  return {.n_slots = kSlots, .capacity = 256, .max_tokens = kSlots * kPrompt, .graphs = true, .graph_max_tokens = 256};
}

enum Kind { kFp16, kGptq, kGptqNoPdl, kGptqRows32, kGptqF16Head };
const char* kKindName[] = {"FP16", "GPTQ 4-bit/128 (int8 head)", "GPTQ 4-bit/128, no PDL",
                           "GPTQ 4-bit/128, W4A16 up to 32 rows", "GPTQ 4-bit/128, FP16 head"};

// The RTN layers, made once for both 4-bit runners.
const std::vector<std::vector<GptqPacked>>& rtn_model(const LlamaConfig& cfg) {
  static std::vector<std::vector<GptqPacked>> layers;
  if (layers.empty()) {
    ThreadPool pool(kGptqLinears);
    for (int l = 0; l < cfg.n_layers; ++l) layers.push_back(rtn_layer(cfg, l, pool));
  }
  return layers;
}

CudaLlamaRunner& runner(Kind kind) {
  static std::map<Kind, std::unique_ptr<CudaLlamaRunner>> made;
  cuda::set_pdl(kind != kGptqNoPdl);  // graphs captured from here on keep this choice
  auto& r = made[kind];
  if (!r) {
    const LlamaConfig cfg = llama_config_preset("llama-3.2-1b");
    if (kind == kFp16) {
      r = CudaLlamaRunner::random(cfg, 1, options());
    } else {
      const auto& layers = rtn_model(cfg);
      CudaRunnerOptions o = options();
      if (kind == kGptqRows32) o.w4_max_rows = 32;
      if (kind == kGptqF16Head) o.head = CudaRunnerOptions::Head::f16;
      r = CudaLlamaRunner::random_gptq(cfg, 1, o, [&](int l) { return layers[size_t(l)]; });
    }
    std::printf("%s runner: weights %.1f MiB (Linears %.1f MiB), %d 4-bit matmul sites, %s head\n", kKindName[kind],
                double(r->weight_bytes()) / 1048576.0, double(r->linear_weight_bytes()) / 1048576.0, r->linears_4bit(),
                r->head_int8() ? "int8" : "FP16");
  }
  return *r;
}

std::vector<int32_t> prompt(int b) {
  std::vector<int32_t> p(kPrompt);
  for (int i = 0; i < kPrompt; ++i) p[size_t(i)] = int32_t((b * 7919 + i * 104729) % 128000);
  return p;
}

void prefill_all(CudaLlamaRunner& r, int B, float* hidden) {
  std::vector<std::vector<int32_t>> ps;
  std::vector<CudaLlamaRunner::Append> batch;
  for (int b = 0; b < B; ++b) ps.push_back(prompt(b));
  for (int b = 0; b < B; ++b) {
    r.clear(b);
    batch.push_back({b, ps[size_t(b)].data(), kPrompt});
  }
  r.append(batch, hidden);
}

std::map<std::pair<std::string, int>, double> g_ms;  // (what, batch) -> ms per iteration

// One decode step for B sequences at positions 64..200 (re-prefilled when they get long); greedy:
// each step's next tokens come from the full LM head and an argmax on the GPU (append_greedy) and
// are fed back, else the hidden states come to the host (append).
void decode_steps(benchmark::State& st, Kind kind, bool greedy) {
  const int B = int(st.range(0));
  CudaLlamaRunner& r = runner(kind);
  std::vector<float> hidden(size_t(B) * 2048);
  prefill_all(r, B, hidden.data());
  std::vector<int32_t> tok(static_cast<size_t>(B), 42);
  std::vector<CudaLlamaRunner::Append> step;
  for (int b = 0; b < B; ++b) step.push_back({b, &tok[size_t(b)], 1});
  auto one = [&] {
    if (greedy) r.append_greedy(step, tok.data());
    else r.append(step, hidden.data());
  };
  for (int i = 0; i < 3; ++i) one();  // eager, capture, replay
  for (auto _ : st) {
    if (r.length(0) >= 200) {
      st.PauseTiming();
      prefill_all(r, B, hidden.data());
      st.ResumeTiming();
    }
    one();
  }
  st.counters["tokens/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DecodeStep(benchmark::State& st, Kind kind) { decode_steps(st, kind, false); }
void BM_GreedyStep(benchmark::State& st, Kind kind) { decode_steps(st, kind, true); }

void BM_Prefill64(benchmark::State& st, Kind kind) {
  const int B = int(st.range(0));
  CudaLlamaRunner& r = runner(kind);
  std::vector<float> hidden(size_t(B) * 2048);
  for (int i = 0; i < 2; ++i) prefill_all(r, B, hidden.data());
  for (auto _ : st) prefill_all(r, B, hidden.data());
  st.counters["tokens/s"] = benchmark::Counter(double(B) * kPrompt, benchmark::Counter::kIsIterationInvariantRate);
}

// Keeps each run's real time per iteration for the summary.
class Summary : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string n = r.benchmark_name();
      const int batch = std::atoi(n.c_str() + n.find("batch:") + 6);
      g_ms[{n.substr(0, n.find('/', n.find('/') + 1)), batch}] = r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

BENCHMARK_CAPTURE(BM_DecodeStep, fp16, kFp16)->ArgName("batch")->Arg(1)->Arg(4)->Arg(16)->Iterations(100)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeStep, gptq4, kGptq)->ArgName("batch")->Arg(1)->Arg(4)->Arg(16)->Iterations(100)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeStep, gptq4_nopdl, kGptqNoPdl)->ArgName("batch")->Arg(1)->Arg(4)->Arg(16)
    ->Iterations(100)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GreedyStep, fp16, kFp16)->ArgName("batch")->Arg(1)->Arg(4)->Arg(16)->Iterations(100)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GreedyStep, gptq4, kGptq)->ArgName("batch")->Arg(1)->Arg(4)->Arg(16)->Iterations(100)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_GreedyStep, gptq4_f16head, kGptqF16Head)->ArgName("batch")->Arg(1)->Arg(4)->Arg(16)
    ->Iterations(100)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill64, fp16, kFp16)->ArgName("batch")->Arg(1)->Arg(4)->Iterations(20)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill64, gptq4, kGptq)->ArgName("batch")->Arg(1)->Arg(4)->Iterations(20)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill64, gptq4_rows32, kGptqRows32)->ArgName("batch")->Arg(1)->Iterations(20)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!si::cuda::available()) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  std::printf("device: %s\n", si::cuda::device_description().c_str());
  Summary rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  benchmark::Shutdown();
  std::printf("\n| what | batch | FP16 ms | GPTQ 4-bit ms | FP16 / 4-bit | 4-bit without PDL ms | 4-bit, FP16 head "
              "ms |\n|---|---:|---:|---:|---:|---:|---:|\n");
  auto cell = [](const std::string& key, int b) {
    const auto it = g_ms.find({key, b});
    return it == g_ms.end() ? std::string() : std::to_string(it->second).substr(0, 5);
  };
  for (const char* what : {"BM_DecodeStep", "BM_GreedyStep", "BM_Prefill64"})
    for (const int b : {1, 4, 16}) {
      const auto f = g_ms.find({std::string(what) + "/fp16", b}), q = g_ms.find({std::string(what) + "/gptq4", b});
      if (f == g_ms.end() || q == g_ms.end()) continue;
      std::printf("| %s | %d | %.3f | %.3f | %.2fx | %s | %s |\n", what + 3, b, f->second, q->second,
                  f->second / q->second, cell(std::string(what) + "/gptq4_nopdl", b).c_str(),
                  cell(std::string(what) + "/gptq4_f16head", b).c_str());
    }
  const CudaLlamaRunner &f = runner(kFp16), &q = runner(kGptq), &qh = runner(kGptqF16Head);
  std::printf("weights on the GPU: FP16 %zu bytes (Linears %zu), GPTQ 4-bit/128 with an int8 embedding / LM head %zu "
              "bytes (Linears %zu): %.1f%% of FP16 (Linears %.1f%%); with an FP16 head %zu bytes: %.1f%%\n",
              f.weight_bytes(), f.linear_weight_bytes(), q.weight_bytes(), q.linear_weight_bytes(),
              100.0 * double(q.weight_bytes()) / double(f.weight_bytes()),
              100.0 * double(q.linear_weight_bytes()) / double(f.linear_weight_bytes()), qh.weight_bytes(),
              100.0 * double(qh.weight_bytes()) / double(f.weight_bytes()));
  return 0;
}
