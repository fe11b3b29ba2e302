// Quantized dot products and quantizers: throughput in GB/s of weight bytes, per type and per path
// (scalar reference, AVX2, AVX-512 VNNI), one thread.
//
//   build/quant/bench/bench_quants --benchmark_filter='dot_rows/Q4_0'
//
// dot_rows/<type>/<path>/<rows>: one activation row (K = 2048, quantized once) against `rows`
// weight rows: 256 rows stay in L2 (kernel speed), 8192 rows stream from memory (bandwidth). The
// speed-up of a path is its GB/s over the scalar row's; quantize/<type> is the reference (file)
// quantizer in GB/s of float input.
// packed/<type>/<path>/<rows>/M<m>: the load-time repacked layout (ops/cpu/gemm_packed.h) against
// m activation rows; tile/<type>/<path>/256/M64 is the row-major prefill loop it replaces (GMAC/s
// compares the two at M = 64).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "ops/cpu/quants.h"
#include "ops/cpu/gemm_packed.h"
#include "ops/cpu/quants_impl.h"

namespace {

using si::DType;
namespace q = si::cpu::quants;

constexpr int64_t K = 2048;

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = d(rng);
  return x;
}

struct Weights {
  std::vector<uint8_t> w, act;
  uint64_t row_bytes = 0;
};

Weights make_weights(DType t, int64_t rows) {
  Weights m;
  m.row_bytes = si::dtype_row_bytes(t, K);
  m.w.resize(m.row_bytes * uint64_t(rows));
  const auto x = random_floats(K * std::min<int64_t>(rows, 64), 1);
  // Rows repeat every 64 (quantizing 8192 rows would dominate start-up); the bytes still stream.
  for (int64_t r = 0; r < rows; ++r)
    si::cpu::quantize_row(t, x.data() + (r % 64) * K, m.w.data() + uint64_t(r) * m.row_bytes, K);
  const DType at = si::cpu::vec_dot_type(t);
  m.act.resize(si::dtype_row_bytes(at, K));
  si::cpu::quantize_act(at, random_floats(K, 2).data(), m.act.data(), K);
  return m;
}

void dot_rows(benchmark::State& state, DType t, const q::DotTable* table, int64_t rows) {
  const Weights m = make_weights(t, rows);
  std::vector<float> out(static_cast<size_t>(rows));
  const auto dot = table->dot[int(t)];
  const auto dot4 = table->dot4[int(t)];
  for (auto _ : state) {
    int64_t r = 0;
    if (dot4 != nullptr)
      for (; r + 4 <= rows; r += 4) dot4(K, m.w.data() + uint64_t(r) * m.row_bytes, m.row_bytes, m.act.data(), &out[size_t(r)]);
    for (; r < rows; ++r) dot(K, m.w.data() + uint64_t(r) * m.row_bytes, m.act.data(), &out[size_t(r)]);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(double(m.w.size()) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

// The row-major prefill loop of vec_dot_tile: 4 weight rows against each activation row in turn.
void tile(benchmark::State& state, DType t, const q::DotTable* table, int64_t rows, int64_t M) {
  const Weights m = make_weights(t, rows);
  const DType at = si::cpu::vec_dot_type(t);
  const uint64_t arb = si::dtype_row_bytes(at, K);
  std::vector<uint8_t> act(arb * uint64_t(M));
  const auto x = random_floats(K * M, 5);
  for (int64_t i = 0; i < M; ++i) si::cpu::quantize_act(at, x.data() + i * K, act.data() + uint64_t(i) * arb, K);
  std::vector<float> out(static_cast<size_t>(rows * M));
  const auto dot4 = table->dot4[int(t)];
  for (auto _ : state) {
    for (int64_t r = 0; r + 4 <= rows; r += 4)
      for (int64_t i = 0; i < M; ++i)
        dot4(K, m.w.data() + uint64_t(r) * m.row_bytes, m.row_bytes, act.data() + uint64_t(i) * arb, &out[size_t(i * rows + r)]);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GMAC/s"] = benchmark::Counter(double(rows * M * K) * double(state.iterations()) / 1e9,
                                                benchmark::Counter::kIsRate);
}

void packed(benchmark::State& state, DType t, const si::cpu::PackedKernels* kernels, int64_t rows, int64_t M) {
  const Weights m = make_weights(t, rows);
  const int64_t groups = rows / si::cpu::kPackRows;
  const uint64_t gb = si::cpu::packed_group_bytes(t, K);
  std::vector<uint8_t> w(gb * uint64_t(groups));
  for (int64_t g = 0; g < groups; ++g) si::cpu::pack_group(t, m.w.data(), m.row_bytes, rows, K, g, w.data() + uint64_t(g) * gb);
  const auto x = random_floats(K * M, 5);
  std::vector<int8_t> aq(static_cast<size_t>(M * K));
  std::vector<float> ad(static_cast<size_t>(M * si::cpu::packed_act_n_d(t, K)));
  std::vector<int32_t> as(static_cast<size_t>(M * si::cpu::packed_act_n_s(t, K)));
  si::cpu::quantize_packed_acts(t, x.data(), K, 0, M, aq.data(), ad.data(), as.data());
  std::vector<float> out(static_cast<size_t>(rows * M));
  si::cpu::PackedGemmArgs a;
  a.w = w.data();
  a.group_bytes = gb;
  a.meta_bytes = si::cpu::packed_meta_bytes(t, K);
  a.N = rows;
  a.K = K;
  a.a = {aq.data(), ad.data(), as.data(), M};
  a.y = out.data();
  a.ldy = rows;
  const auto fn = kernels->gemm[si::cpu::packed_slot(t)];
  for (auto _ : state) {
    fn(a, 0, groups);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(double(w.size()) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.counters["GMAC/s"] = benchmark::Counter(double(rows * M * K) * double(state.iterations()) / 1e9,
                                                benchmark::Counter::kIsRate);
}

void quantize(benchmark::State& state, DType t) {
  const int64_t rows = 16;
  const auto x = random_floats(K * rows, 3);
  std::vector<uint8_t> y(si::dtype_row_bytes(t, K) * rows);
  for (auto _ : state) {
    si::cpu::quantize_rows(t, x.data(), y.data(), rows, K);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(double(x.size() * 4) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

void quantize_act(benchmark::State& state, DType t) {
  const auto x = random_floats(K, 4);
  const DType at = si::cpu::vec_dot_type(t);
  std::vector<uint8_t> y(si::dtype_row_bytes(at, K));
  for (auto _ : state) {
    si::cpu::quantize_act(at, x.data(), y.data(), K);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(double(K * 4) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

const DType kTypes[] = {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

int register_all() {
  std::vector<const q::DotTable*> tables = {&q::dot_table_ref(), q::dot_table_avx2(), q::dot_table_avx512()};
  for (DType t : kTypes) {
    const std::string tn(si::dtype_name(t));
    for (const auto* table : tables) {
      if (table == nullptr) continue;
      for (int64_t rows : {int64_t(256), int64_t(8192)}) {
        if (table == &q::dot_table_ref() && rows > 256) continue;  // the scalar path is compute-bound
        benchmark::RegisterBenchmark(("dot_rows/" + tn + "/" + table->name + "/" + std::to_string(rows)).c_str(),
                                     dot_rows, t, table, rows);
      }
    }
    for (const auto* table : tables)
      if (table != nullptr && table != &q::dot_table_ref() && t != DType::F16)
        benchmark::RegisterBenchmark(("tile/" + tn + "/" + table->name + "/256/M64").c_str(), tile, t, table, 256, 64);
    if (si::cpu::packed_slot(t) >= 0) {
      for (const auto* k : {&si::cpu::packed_kernels_ref(), si::cpu::packed_kernels_avx2(), si::cpu::packed_kernels_avx512()}) {
        if (k == nullptr) continue;
        for (int64_t rows : {int64_t(256), int64_t(8192)}) {
          for (int64_t M : {int64_t(1), int64_t(64)}) {
            if ((k == &si::cpu::packed_kernels_ref() || M > 1) && rows > 256) continue;
            benchmark::RegisterBenchmark(("packed/" + tn + "/" + k->name + "/" + std::to_string(rows) + "/M" +
                                          std::to_string(M)).c_str(), packed, t, k, rows, M);
          }
        }
      }
    }
    if (t != DType::F16) benchmark::RegisterBenchmark(("quantize/" + tn).c_str(), quantize, t);
    benchmark::RegisterBenchmark(("quantize_act/" + tn).c_str(), quantize_act, t);
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
