// bench_datagen — rows per second of `shopintent datagen`, single thread, end to end (catalog
// sampling, rendering, noise, dedup, JSONL writing). Goal: 1,000,000 rows in < 60 s on one core,
// i.e. > 16,700 rows/s. Run: build/<dir>/bench/bench_datagen --benchmark_min_time=1x
#include <filesystem>

#include <benchmark/benchmark.h>

#include "data/generator.h"

namespace {

void BM_Datagen(benchmark::State& state, const char* task) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "shopintent-bench-datagen";
  si::GenOptions o;
  o.task = task;
  o.n = state.range(0);
  o.seed = 1;
  o.out_dir = dir.string();
  o.quiet = true;
  int64_t rows = 0;
  for (auto _ : state) {
    si::GenSummary s = si::generate_dataset(o);
    rows += s.train + s.valid + s.test + s.heldout;
  }
  state.SetItemsProcessed(rows);
  state.counters["s_per_1M_rows"] =
      benchmark::Counter(static_cast<double>(rows) / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  std::filesystem::remove_all(dir);
}

BENCHMARK_CAPTURE(BM_Datagen, cart, "cart")->Arg(100000)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_Datagen, cart_multi, "cart-multi")->Arg(100000)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_Datagen, support, "support")->Arg(100000)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
