// Our CUDA runner (FP16 weights) against transformers in float16 on a random Llama-3.2-1B that
// transformers made and saved (tools/gpu/transformers_1b.py --out DIR; SHOPINTENT_HF_1B=DIR). Skips
// without a GPU or without that directory (it is 2.5 GB: made on the GPU machine, never committed).
//
// transformers' fp16 model keeps its residual stream in fp16; ours stays fp32 (see
// llama_runner_cuda.h), so the two differ by fp16 rounding accumulated over 16 layers. Verdict: the
// logits' relative L2 difference under 2e-2, and the same top-1 wherever transformers' top-1 leads its
// runner-up by more than twice the largest difference seen; max abs diff and the overall top-1
// agreement are printed for the record (docs/cuda-notes.md). The same for the FP8 path, with its own
// bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/mmap.h"
#include "model/cuda/llama_runner_cuda.h"
#include "model/llama_model.h"
#include "logits_agreement.h"
#include "npy_read.h"
#include "ops/cuda/device.h"

namespace si {
namespace {

// Our logits for every sequence of the directory's tokens.json (each alone, as the script ran them)
// with the runner options given, beside transformers' (sum of lengths, V); the test skips without
// a GPU or the directory.
struct HfRun {
  test::Npy ref;
  std::vector<float> ours;
  int64_t V = 0;
};

bool run_ours(const CudaRunnerOptions& opt, HfRun& run) {
  if (!cuda::available()) return false;
  const char* dir_env = std::getenv("SHOPINTENT_HF_1B");
  if (!dir_env || !std::filesystem::exists(std::string(dir_env) + "/tokens.json")) return false;
  const std::string dir = dir_env;
  const auto seqs = nlohmann::json::parse(read_file(dir + "/tokens.json")).at("seqs");
  run.ref = test::read_npy_f32(dir + "/logits-f16.npy");
  const LlamaModel model = LlamaModel::load(dir + "/model");
  run.V = model.config().vocab_size;
  CudaLlamaRunner runner(model, opt);
  for (const auto& s : seqs) {
    const std::vector<int32_t> ids = s.get<std::vector<int32_t>>();
    runner.clear(0);
    const std::vector<float> l = runner.eval(0, ids);  // (T, V)
    run.ours.insert(run.ours.end(), l.begin(), l.end());
  }
  return true;
}

// Agreement with transformers, and the top-1 over all rows (decided or not) printed for the record.
test::Agreement compare_with_transformers(const HfRun& run, const char* what) {
  EXPECT_EQ(run.ref.shape.size(), 2u);
  EXPECT_EQ(run.ref.shape[1], run.V);
  EXPECT_EQ(int64_t(run.ours.size()), run.ref.shape[0] * run.V);
  const test::Agreement a = test::compare(run.ours, run.ref.data, run.V);
  int agree = 0;
  for (int64_t r = 0; r < run.ref.shape[0]; ++r) {
    const float* t = run.ref.data.data() + r * run.V;
    const float* o = run.ours.data() + r * run.V;
    agree += std::max_element(o, o + run.V) - o == std::max_element(t, t + run.V) - t;
  }
  std::printf("%s: top-1 agrees on %d of %lld rows\n", what, agree, static_cast<long long>(run.ref.shape[0]));
  return a;
}

constexpr const char* kSkip =
    "no CUDA device, or SHOPINTENT_HF_1B unset or without tokens.json (make it with tools/gpu/transformers_1b.py)";

TEST(HfParity1B, Fp16LogitsMatchTransformersFp16) {
  HfRun run;
  if (!run_ours({.n_slots = 1, .capacity = 256, .max_tokens = 256}, run)) GTEST_SKIP() << kSkip;
  test::expect_close(compare_with_transformers(run, "1B fp16 vs transformers fp16"), "1B fp16 vs transformers fp16");
}

// Every pass with the Linears' e4m3 copies (fp8_min_tokens = 1) against transformers in fp16. With
// random weights each sub-layer's output is a chaotic function of its input and rounding errors
// grow through the 16 layers: FP16 lands at rel ~3e-3 here, and e4m3's unit roundoff is 128x
// fp16's; the FP8 path measured rel 0.28 (top-1 on 48 of 81 rows, H100). The bound 0.5 catches a
// wrong scale, operand or layout (rel ~1 or more), not a quality claim: what FP8 costs a trained
// model is measured by `eval` (docs/cuda-notes.md).
TEST(HfParity1B, Fp8LogitsTrackTransformersFp16) {
  HfRun run;
  if (!run_ours({.n_slots = 1, .capacity = 256, .max_tokens = 256, .fp8_min_tokens = 1}, run)) GTEST_SKIP() << kSkip;
  test::expect_close(compare_with_transformers(run, "1B fp8 vs transformers fp16"), "1B fp8 vs transformers fp16",
                     0.5);
}

}  // namespace
}  // namespace si
