// The trainer's sgemm (ops/cpu/sgemm.h) against OpenBLAS's cblas_sgemm, one
// thread, on the shapes of the quickstart's tiny model (C 256, F 768, V 2048;
// ~450 token rows per pool task). The OpenBLAS rows run whatever kernels
// OPENBLAS_CORETYPE selects in this environment; compare the GFLOP/s of "ours"
// and "openblas" of the same shape and case.
//
//   build/release/bench/bench_sgemm
//
// Cases as the trainer calls them: fwd y = x W^T (NoTrans, Trans); dx = dy W
// (NoTrans, NoTrans, beta 1); dW = dy^T x (Trans, NoTrans, beta 1).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>
#include <vector>

#include "ops/cpu/sgemm.h"

extern "C" void openblas_set_num_threads(int);

namespace {

struct Shape {
  const char *name;
  bool ta, tb;
  int64_t M, N, K;
  float beta;
};

const Shape kShapes[] = {
    {"fwd_x_Wqkv", false, true, 450, 512, 256, 0.0f},  // q|k|v of one task's rows
    {"fwd_x_Wgate", false, true, 450, 768, 256, 0.0f},
    {"fwd_h_Wdown", false, true, 450, 256, 768, 0.0f},
    {"fwd_x_head", false, true, 450, 2048, 256, 0.0f},
    {"dx_dy_Wgate", false, false, 450, 256, 768, 1.0f},
    {"dx_dy_Wdown", false, false, 450, 768, 256, 1.0f},
    {"dW_gate", true, false, 384, 256, 900, 1.0f},  // half of dW's rows over all 900 tokens
    {"dW_down", true, false, 128, 768, 900, 1.0f},
};

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto &x : v) x = d(rng);
  return v;
}

void run(benchmark::State &state, const Shape &s, bool ours) {
  openblas_set_num_threads(1);
  const int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  const auto A = random_floats(s.M * s.K, 1), B = random_floats(s.K * s.N, 2);
  std::vector<float> C(static_cast<size_t>(s.M * s.N), 0.0f);
  for (auto _ : state) {
    if (ours)
      si::cpu::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, s.beta, C.data(), s.N);
    else
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, int(s.M), int(s.N),
                  int(s.K), 1.0f, A.data(), int(lda), B.data(), int(ldb), s.beta, C.data(), int(s.N));
    benchmark::DoNotOptimize(C.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * double(s.M * s.N * s.K), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

const bool kRegistered = [] {
  for (const Shape &s : kShapes) {
    benchmark::RegisterBenchmark((std::string("sgemm/") + s.name + "/openblas").c_str(),
                                 [&s](benchmark::State &st) { run(st, s, false); });
    benchmark::RegisterBenchmark((std::string("sgemm/") + s.name + "/ours").c_str(),
                                 [&s](benchmark::State &st) { run(st, s, true); });
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
