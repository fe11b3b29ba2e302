// The quickstart's orchestration on a toy budget: every stage runs, every promised file exists and
// results.json has the promised keys. (The accuracy target is checked by running the real defaults,
// not here: a few steps cannot learn the task.)
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/quickstart.h"
#include "core/error.h"
#include "core/mmap.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace {

si::QuickstartOptions toy(const fs::path& dir) {
  si::QuickstartOptions o;
  o.out_dir = dir.string();
  o.n = 120;
  o.vocab_size = 400;
  o.batch_size = 2;
  o.max_steps = 2;
  o.warmup_steps = 0;
  o.threads = 1;
  o.eval_limit = 3;
  o.eval_batch = 2;
  o.quiet = true;
  return o;
}

TEST(Quickstart, ToyRunWritesModelGgufsAndResults) {
  const fs::path dir = si::test::temp_dir() / "qs";
  const si::QuickstartResult r = si::run_quickstart(toy(dir));

  for (const char* f : {"model/config.json", "model/model.safetensors", "model/tokenizer.json", "model-Q8_0.gguf",
                        "model-Q4_K_M.gguf", "results.json", "data/train.jsonl", "data/test.jsonl", "data/test_heldout.jsonl"})
    EXPECT_TRUE(fs::is_regular_file(dir / f)) << f;
  // The Q4_K_M file is smaller than the Q8_0 one (the mixes differ in bits per weight).
  EXPECT_LT(fs::file_size(dir / "model-Q4_K_M.gguf"), fs::file_size(dir / "model-Q8_0.gguf"));

  const nlohmann::json j = nlohmann::json::parse(si::read_file((dir / "results.json").string()));
  EXPECT_EQ(j, r.results);
  ASSERT_TRUE(j.contains("models"));
  ASSERT_EQ(j["models"].size(), 2u);
  for (const char* file : {"model-Q8_0.gguf", "model-Q4_K_M.gguf"}) {
    for (const char* split : {"test", "test_heldout"}) {
      SCOPED_TRACE(std::string(file) + " " + split);
      ASSERT_TRUE(j["models"].contains(file) && j["models"][file].contains(split));
      const auto& e = j["models"][file][split];
      for (const char* key : {"exact_match", "requests_per_s", "peak_rss_bytes", "model_bytes"}) ASSERT_TRUE(e.contains(key)) << key;
      EXPECT_EQ(e["n"].get<int64_t>(), 3);
      EXPECT_GE(e["exact_match"].get<double>(), 0.0);
      EXPECT_LE(e["exact_match"].get<double>(), 1.0);
      EXPECT_GT(e["requests_per_s"].get<double>(), 0.0);
      EXPECT_GT(e["peak_rss_bytes"].get<uint64_t>(), 0u);
      EXPECT_GT(e["model_bytes"].get<uint64_t>(), 0u);
      EXPECT_LE(e["model_bytes"].get<uint64_t>(), fs::file_size(dir / file));
      // Constrained decoding always yields a valid answer, whatever the weights.
      EXPECT_EQ(e["invalid_rate"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(j["train"]["steps"].get<int64_t>(), 2);
  EXPECT_GT(j["total_s"].get<double>(), 0.0);

  const std::string table = si::quickstart_table(j);
  EXPECT_NE(table.find("model-Q4_K_M.gguf"), std::string::npos);
  EXPECT_NE(table.find("test_heldout"), std::string::npos);

  // A second run into the same directory starts training afresh (no stale checkpoint resumed).
  const si::QuickstartResult again = si::run_quickstart(toy(dir));
  EXPECT_EQ(again.results["train"]["steps"].get<int64_t>(), 2);
  EXPECT_EQ(again.results["models"]["model-Q8_0.gguf"]["test"]["exact_match"], j["models"]["model-Q8_0.gguf"]["test"]["exact_match"]);
}

TEST(Quickstart, UnknownLanguageIsAnErrorAndWritesNoResults) {
  const fs::path dir = si::test::temp_dir() / "qs";
  si::QuickstartOptions o = toy(dir);
  o.langs = {"xx"};
  EXPECT_THROW(si::run_quickstart(o), si::Error);
  EXPECT_FALSE(fs::exists(dir / "results.json"));
}

TEST(Quickstart, BadSettingsAreOneLineErrors) {
  si::QuickstartOptions o = toy(si::test::temp_dir() / "qs");
  o.test_frac = 1.5;
  try {
    si::run_quickstart(o);
    FAIL() << "no error";
  } catch (const si::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("test fraction"), std::string::npos);
  }
}

}  // namespace
