// bench_cuda_matmul — W4A16 (GPTQ 4-bit) against cuBLAS(Lt) FP16 (and, for M <= 4, our FP16 GEMV)
// at Llama-3.2-1B's matmul shapes: the runner's fused sites (qkv, gate_up) and outputs (o and down
// add fp32 into the residual, as in the runner), and the single Linears (q, k/v, gate).
//
//   build/gpu/bench/bench_cuda_matmul          # on the GPU machine (scripts/gpu-check.sh bench)
//
// Each benchmark times the kernels on the same shape and batch M: 32 calls captured in a CUDA graph
// (no launch gaps), replayed; weights rotate over enough copies to exceed L2 twice (so each call
// reads HBM, as in a decode step). Reported: time per call of W4A16 (the benchmark's time, the
// default dispatch), fp16_us (cuBLAS median), speedup = fp16 / w4, w4k1_us, w4k2_us and w4k3_us
// (each W4A16 kernel as w4a16_select_kernel picks it: kernel 3 hands what it does not take to 2,
// 2 to 1; kernels 2 and 3 as programmatic dependent launches, so in the graph each call's first
// weight loads overlap the end of the call before, as after the norm/attention/SwiGLU kernels in
// the runner), k2_nopdl_us / k3_nopdl_us (launched plainly), k3s2/k3s4/k3s8 (M <= 16: kernel 3
// with 2/4/8 chunks per warp), k3s2_smemx (M <= 8: x staged in shared memory, not registers),
// k3s2_1blk / k3s4_1blk (one block per SM: what the overlap of consecutive calls gives), deq_us (M >= 16: dequantize to fp16 + cuBLAS, the runner's path
// for M > 64), gemv_us (FP16 GEMV, M <= 4) and the weight bandwidth.
//
// FP8_vs_FP16: at prefill rows (M = 64 tokens x batch 1, 16, 256) cuBLASLt's e4m3 GEMM with per-row
// scales (Blas::matmul_fp8; the runner's fp8_min_tokens path) against its FP16 GEMM: fp8_us,
// fp8fast_us (fast accumulation), fp16_us, and TFLOP/s of each.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"
#include "ops/cuda/fp8.h"
#include "ops/cuda/matmul.h"
#include "ops/cuda/w4a16.h"
#include "ops/cuda/w4a16_v2.h"
#include "ops/cuda/w4a16_v3.h"

namespace {

using namespace si;

constexpr int kCalls = 32;

struct Shape { const char* name; int64_t N, K; bool residual; };  // residual: y f32 +=, else y f16 =
const Shape kShapes[] = {{"qkv", 3072, 2048, false}, {"o", 2048, 2048, true},   {"gate_up", 16384, 2048, false},
                         {"down", 2048, 8192, true}, {"q", 2048, 2048, false},  {"kv", 512, 2048, false},
                         {"gate", 8192, 2048, false}};

// Median of `reps` replays of a graph of kCalls calls, in microseconds per call.
float time_graph(cudaGraphExec_t g, const cuda::Stream& s, int reps) {
  cudaEvent_t a, b;
  SI_CUDA_CHECK(cudaEventCreate(&a));
  SI_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> t;
  for (int i = 0; i < reps + 2; ++i) {
    SI_CUDA_CHECK(cudaEventRecord(a, s.get()));
    SI_CUDA_CHECK(cudaGraphLaunch(g, s.get()));
    SI_CUDA_CHECK(cudaEventRecord(b, s.get()));
    SI_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    SI_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    if (i >= 2) t.push_back(ms * 1000.0f / kCalls);  // two warm-up replays
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <typename F>
cudaGraphExec_t capture(const cuda::Stream& s, F&& calls) {
  cudaGraph_t g;
  SI_CUDA_CHECK(cudaStreamBeginCapture(s.get(), cudaStreamCaptureModeThreadLocal));
  calls();
  SI_CUDA_CHECK(cudaStreamEndCapture(s.get(), &g));
  cudaGraphExec_t e;
  SI_CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
  cudaGraphDestroy(g);
  return e;
}

void BM_W4A16_vs_FP16(benchmark::State& st, Shape sh) {
  if (!cuda::available()) {
    st.SkipWithError("no CUDA device");
    return;
  }
  const int64_t M = st.range(0), N = sh.N, K = sh.K, G = 128;
  cuda::Stream s;
  cuda::Blas blas;
  std::mt19937 rng(1);
  // Random GPTQ tensors: uniform nibbles, scales ~0.002, any zeros.
  std::vector<int32_t> qweight(size_t(K / 8 * N)), qzeros(size_t(K / G * N / 8));
  std::vector<uint16_t> scales(size_t(K / G * N), 0x1800);  // fp16 0.002
  for (auto& v : qweight) v = int32_t(rng());
  for (auto& v : qzeros) v = int32_t(rng());
  const cuda::GptqView gv{K, N, int(G), qweight.data(), qzeros.data(), scales.data(), nullptr, true};
  cuda::DeviceArena arena("bench", size_t(1) << 30);
  const cuda::W4Weight w0 = cuda::w4_upload(gv, arena, s);
  const size_t l2 = 50u << 20, w4_bytes = size_t(N * K / 2), f16_bytes = size_t(N * K * 2);
  const int n4 = int(std::min<size_t>(64, std::max<size_t>(1, 2 * l2 / w4_bytes + 1)));
  const int n16 = int(std::min<size_t>(64, std::max<size_t>(1, 2 * l2 / f16_bytes + 1)));
  std::vector<cuda::W4Weight> w4(size_t(n4), w0);
  for (int i = 1; i < n4; ++i) {
    void* p = arena.alloc_bytes(w4_bytes);
    SI_CUDA_CHECK(cudaMemcpyAsync(p, w0.packed, w4_bytes, cudaMemcpyDeviceToDevice, s.get()));
    w4[size_t(i)].packed = p;
  }
  std::vector<void*> w16(static_cast<size_t>(n16));
  for (auto& p : w16) {
    p = arena.alloc_bytes(f16_bytes);
    cuda::w4_dequantize(w0, p, s.get());  // real fp16 values (not zeros: see METHOD.md)
  }
  std::vector<uint16_t> xh(size_t(M * K));
  for (auto& v : xh) v = uint16_t(0x3000 + (rng() & 0x3ff));  // fp16 in [0.125, 0.25)
  void* x = arena.alloc_bytes(xh.size() * 2);
  void* y = arena.alloc_bytes(size_t(M * N) * 4);
  SI_CUDA_CHECK(cudaMemcpyAsync(x, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice, s.get()));
  SI_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(M * N) * 4, s.get()));
  const DType yt = sh.residual ? DType::F32 : DType::F16;
  const bool acc = sh.residual;
  blas.matmul(DType::F16, x, M, K, w16[0], N, yt, y, acc, s.get());  // plan outside the capture
  // Each kernel variant once outside a capture (first launches set kernel attributes), then a graph.
  auto w4_graph = [&](int kernel, int split = 0, bool pdl = true, int variant = 0) {
    cuda::w4a16_select_kernel(kernel);
    cuda::v3::force_split(split);
    cuda::v3::force_variant(variant);
    cuda::set_pdl(pdl);
    cuda::w4a16_matmul(w4[0], x, M, yt, y, acc, nullptr, s.get());
    s.sync();
    cudaGraphExec_t g = capture(s, [&] {
      for (int i = 0; i < kCalls; ++i) cuda::w4a16_matmul(w4[size_t(i % n4)], x, M, yt, y, acc, nullptr, s.get());
    });
    cuda::w4a16_select_kernel(3);  // back to the defaults
    cuda::v3::force_split(0);
    cuda::v3::force_variant(0);
    cuda::set_pdl(true);
    return g;
  };
  auto time_w4 = [&](int kernel, int split = 0, bool pdl = true, int variant = 0) {
    cudaGraphExec_t g = w4_graph(kernel, split, pdl, variant);
    const float us = time_graph(g, s, 30);
    cudaGraphExecDestroy(g);
    return us;
  };
  st.counters["w4k1_us"] = time_w4(1);
  st.counters["w4k2_us"] = time_w4(2);
  st.counters["k2_nopdl_us"] = time_w4(2, 0, false);
  st.counters["w4k3_us"] = time_w4(3);
  st.counters["k3_nopdl_us"] = time_w4(3, 0, false);
  if (M <= 16)
    for (const int sp : {2, 4, 8}) st.counters["k3s" + std::to_string(sp)] = time_w4(3, sp);
  if (M <= 8) {
    st.counters["k3s2_smemx"] = time_w4(3, 2, true, 2);
    st.counters["k3s2_1blk"] = time_w4(3, 2, true, 4);
    st.counters["k3s4_1blk"] = time_w4(3, 4, true, 4);
  }
  if (M >= 16) {
    void* dq = arena.alloc_bytes(f16_bytes);
    cudaGraphExec_t gd = capture(s, [&] {
      for (int i = 0; i < kCalls; ++i) {
        cuda::w4_dequantize(w4[size_t(i % n4)], dq, s.get());
        blas.matmul(DType::F16, x, M, K, dq, N, yt, y, acc, s.get());
      }
    });
    st.counters["deq_us"] = time_graph(gd, s, 30);
    cudaGraphExecDestroy(gd);
  }
  cudaGraphExec_t g4 = w4_graph(3);  // the default
  cudaGraphExec_t g16 = capture(s, [&] {
    for (int i = 0; i < kCalls; ++i) blas.matmul(DType::F16, x, M, K, w16[size_t(i % n16)], N, yt, y, acc, s.get());
  });
  const float fp16_us = time_graph(g16, s, 30);
  if (cuda::gemv_fits(DType::F16, M, K)) {
    cudaGraphExec_t gv16 = capture(s, [&] {
      for (int i = 0; i < kCalls; ++i) cuda::gemv(DType::F16, x, M, K, w16[size_t(i % n16)], N, yt, y, acc, s.get());
    });
    const float gemv_us = time_graph(gv16, s, 30);
    st.counters["gemv_us"] = gemv_us;
    st.counters["gemv_GBs"] = double(f16_bytes) / (gemv_us * 1e3);
    cudaGraphExecDestroy(gv16);
  }
  float w4_sum = 0;
  int n = 0;
  for (auto _ : st) {
    const float us = time_graph(g4, s, 1);
    st.SetIterationTime(us * 1e-6);
    w4_sum += us;
    ++n;
  }
  const float w4_us = time_graph(g4, s, 30);
  st.counters["w4_us"] = w4_us;
  st.counters["fp16_us"] = fp16_us;
  st.counters["speedup"] = fp16_us / w4_us;
  st.counters["w4_GBs"] = double(w0.bytes) / (w4_us * 1e3);
  st.counters["fp16_GBs"] = double(f16_bytes) / (fp16_us * 1e3);
  cudaGraphExecDestroy(g4);
  cudaGraphExecDestroy(g16);
}

void BM_FP8_vs_FP16(benchmark::State& st, Shape sh) {
  if (!cuda::available()) {
    st.SkipWithError("no CUDA device");
    return;
  }
  const int64_t M = st.range(0), N = sh.N, K = sh.K;
  const DType y_t = sh.residual ? DType::F32 : DType::F16;
  cuda::Stream s;
  cuda::Blas blas;
  cuda::DeviceArena arena("bench", size_t(M * K * 3 + N * K * 3 + M * N * 4 + (M + N) * 4 + 4096));
  void* x16 = arena.alloc_bytes(size_t(M * K) * 2);
  void* w16 = arena.alloc_bytes(size_t(N * K) * 2);
  void* x8 = arena.alloc_bytes(size_t(M * K));
  void* w8 = arena.alloc_bytes(size_t(N * K));
  float* xs = arena.alloc<float>(size_t(M));
  float* ws = arena.alloc<float>(size_t(N));
  void* y = arena.alloc_bytes(size_t(M * N) * 4);
  cuda::fill_random(DType::F16, x16, M * K, 1, 1.0f, 0.0f, s.get());  // real values (METHOD.md), not zeros
  cuda::fill_random(DType::F16, w16, N * K, 2, 0.02f, 0.0f, s.get());
  cuda::fp8_quantize_rows(DType::F16, x16, M, K, x8, xs, s.get());
  cuda::fp8_quantize_rows(DType::F16, w16, N, K, w8, ws, s.get());
  SI_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(M * N) * 4, s.get()));
  const cuda::Fp8Rows xq{x8, xs}, wq{w8, ws};
  auto fp8 = [&](bool fast) {
    return capture(s, [&] {
      for (int i = 0; i < kCalls; ++i) blas.matmul_fp8(xq, M, K, wq, N, y_t, y, sh.residual, fast, s.get());
    });
  };
  // One eager call each first: cuBLASLt plans are made outside the capture.
  blas.matmul_fp8(xq, M, K, wq, N, y_t, y, sh.residual, false, s.get());
  blas.matmul_fp8(xq, M, K, wq, N, y_t, y, sh.residual, true, s.get());
  blas.matmul(DType::F16, x16, M, K, w16, N, y_t, y, sh.residual, s.get());
  cudaGraphExec_t g8 = fp8(false), g8f = fp8(true);
  cudaGraphExec_t g16 = capture(s, [&] {
    for (int i = 0; i < kCalls; ++i) blas.matmul(DType::F16, x16, M, K, w16, N, y_t, y, sh.residual, s.get());
  });
  float fp8_us = 0, fp8fast_us = 0, fp16_us = 0;
  for (auto _ : st) {
    fp8_us = time_graph(g8, s, 5);
    fp8fast_us = time_graph(g8f, s, 5);
    fp16_us = time_graph(g16, s, 5);
    st.SetIterationTime(double(fp8_us) * 1e-6);
  }
  const double flop = 2.0 * double(M) * double(N) * double(K);
  st.counters["fp8_us"] = fp8_us;
  st.counters["fp8fast_us"] = fp8fast_us;
  st.counters["fp16_us"] = fp16_us;
  st.counters["speedup"] = fp16_us / fp8_us;
  st.counters["fp8_TFLOPs"] = flop / (fp8_us * 1e6);
  st.counters["fp8fast_TFLOPs"] = flop / (fp8fast_us * 1e6);
  st.counters["fp16_TFLOPs"] = flop / (fp16_us * 1e6);
  for (cudaGraphExec_t g : {g8, g8f, g16}) cudaGraphExecDestroy(g);
}

void register_all() {
  for (const Shape& sh : kShapes) {
    auto* b = benchmark::RegisterBenchmark((std::string("W4A16_vs_FP16/") + sh.name).c_str(), BM_W4A16_vs_FP16, sh);
    b->ArgName("M")->Arg(1)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64);
    // Fixed iterations: each is one graph replay with its own event sync (CPU-bound otherwise).
    b->Iterations(20)->UseManualTime()->Unit(benchmark::kMicrosecond);
  }
  for (const Shape& sh : kShapes) {
    const std::string_view name = sh.name;
    if (name != "qkv" && name != "o" && name != "gate_up" && name != "down") continue;  // the runner's sites
    auto* b = benchmark::RegisterBenchmark((std::string("FP8_vs_FP16/") + sh.name).c_str(), BM_FP8_vs_FP16, sh);
    b->ArgName("M")->Arg(64)->Arg(1024)->Arg(16384)->Iterations(2)->UseManualTime()->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (si::cuda::available()) std::printf("device: %s\n", si::cuda::device_description().c_str());
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
