// The CPU engine against transformers (goldens made by tools/golden/llama_logits.py on the GPU
// machine, committed under tests/golden/llama/). Skips with a message until they exist.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/mmap.h"
#include "model/llama_runner.h"
#include "npy_read.h"
#include "test_paths.h"

namespace si {
namespace {

const std::string kDir = test::source_path("tests/golden/llama");

#define SI_REQUIRE_GOLDENS()                                                                          \
  do {                                                                                                \
    if (!std::filesystem::exists(kDir + "/tokens.json"))                                              \
      GTEST_SKIP() << "no goldens in " << kDir << ": run tools/golden/llama_logits.py --out " << kDir \
                   << " on the GPU machine";                                                          \
  } while (0)

// Runs every sequence alone in a fresh slot; rows concatenated like the golden files.
std::vector<float> our_logits(const std::string& model_dir, bool reference = false) {
  const auto seqs = nlohmann::json::parse(read_file(kDir + "/tokens.json"))["seqs"];
  const LlamaModel m = LlamaModel::load(model_dir);
  std::vector<float> out;
  for (const auto& s : seqs) {
    LlamaRunner r(m, {.n_threads = 2, .n_slots = 1, .capacity = 64, .reference = reference});
    const std::vector<int32_t> ids = s.get<std::vector<int32_t>>();
    const auto l = r.eval(0, ids);
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

float max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(HfGolden, Fp32TiedAndUntiedWithin1e4) {
  SI_REQUIRE_GOLDENS();
  for (const char* name : {"tied", "untied"}) {
    const auto want = test::read_npy_f32(kDir + "/logits-" + std::string(name) + "-fp32.npy");
    for (bool ref : {false, true}) {
      const float d = max_abs(our_logits(kDir + "/" + name, ref), want.data);
      EXPECT_LT(d, 1e-4f) << name << (ref ? " reference" : " fast");
      std::printf("[ %s %s ] max abs %.3g vs transformers fp32\n", name, ref ? "ref " : "fast", double(d));
    }
  }
}

// Half weights with fp32 activations. The script's "upcast" logits (logits-tied-<tag>w) are not a
// pure fp32 compute: most likely because model.to(half) also rounds the rotary inv_freq buffer (not yet
// confirmed by a rerun), and .to(float32)
// does not bring the lost bits back, so its RoPE angles carry half rounding that ours (fp32
// frequencies, as transformers computes them for a half model loaded from disk) do not. Measured
// gaps: 2.2e-3 (f16) and 5.7e-3 (bf16); bounded at 5e-3 / 1.5e-2. Against transformers computing in
// f16/bf16 end to end the gap is its activation rounding (versions.json: 6.1e-3 / 4.6e-2).
TEST(HfGolden, HalfWeightsMatchFp32ComputeAndNativeHalfWithinTolerance) {
  SI_REQUIRE_GOLDENS();
  struct Tol { std::string tag; float upcast, native; };
  for (const auto& [tag, upcast_tol, native_tol] : {Tol{"f16", 5e-3f, 2e-2f}, Tol{"bf16", 1.5e-2f, 1e-1f}}) {
    const auto ours = our_logits(kDir + "/tied-" + tag);
    const float dw = max_abs(ours, test::read_npy_f32(kDir + "/logits-tied-" + tag + "w.npy").data);
    const float dn = max_abs(ours, test::read_npy_f32(kDir + "/logits-tied-" + tag + ".npy").data);
    EXPECT_LT(dw, upcast_tol) << tag;
    EXPECT_LT(dn, native_tol) << tag;
    std::printf("[ %s ] max abs %.3g vs fp32 compute on %s weights, %.3g vs transformers in %s\n", tag.c_str(),
                double(dw), tag.c_str(), double(dn), tag.c_str());
  }
}

}  // namespace
}  // namespace si
