#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/generator.h"
#include "data/lang.h"
#include "data/task_spec.h"
#include "data/text.h"
#include "data/validate.h"
#include "test_paths.h"

namespace si {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kSplits[] = {"train", "valid", "test", "test_heldout"};

GenOptions options(const std::string& task, int64_t n, uint64_t seed, const fs::path& out) {
  GenOptions o;
  o.task = task;
  o.n = n;
  o.seed = seed;
  o.out_dir = out.string();
  o.quiet = true;
  o.meta = true;
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<json> rows(const fs::path& p) {
  std::vector<json> out;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) out.push_back(json::parse(line));
  return out;
}

// Rows for each task are generated once per test process (the heavier tests share them). ctest runs
// every test as its own process, several at once, so the directory is per process.
const fs::path& dataset(const std::string& task) {
  static std::map<std::string, fs::path> made;
  auto it = made.find(task);
  if (it != made.end()) return it->second;
  fs::path dir = fs::path(SHOPINTENT_BINARY_DIR) / "test-tmp" / ("dataset-" + task + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  size_t langs = available_languages(data_dir() + "/lang").size();
  TaskSpec spec = load_task_spec(task);
  // Strata: the spec's intents, plus "none" and "multi" for list specs.
  size_t labels = spec.intents().size() + (spec.list_field() ? 2 : 0);
  // 40 rows per stratum: every split gets whole rows of each stratum, so shares can be checked to 1 %.
  generate_dataset(options(task, static_cast<int64_t>(langs * labels * 40), 11, dir));
  return made[task] = dir;
}

TEST(Datagen, SameSeedGivesByteIdenticalFiles) {
  fs::path dir = test::temp_dir();
  // cart-multi has 5 strata per language; 20 rows per stratum give every split (5 % each) a row.
  int64_t n = static_cast<int64_t>(available_languages(data_dir() + "/lang").size()) * 5 * 20;
  generate_dataset(options("cart-multi", n, 7, dir / "a"));
  generate_dataset(options("cart-multi", n, 7, dir / "b"));
  generate_dataset(options("cart-multi", n, 8, dir / "c"));
  for (const char* f : {"train.jsonl", "valid.jsonl", "test.jsonl", "test_heldout.jsonl", "stats.json", "train.meta.jsonl"}) {
    std::string a = slurp(dir / "a" / f);
    ASSERT_FALSE(a.empty()) << f;
    EXPECT_EQ(a, slurp(dir / "b" / f)) << f;
  }
  EXPECT_NE(slurp(dir / "a" / "train.jsonl"), slurp(dir / "c" / "train.jsonl"));
}

TEST(Datagen, EveryRowValidatesAndOutputIsCanonical) {
  for (const char* task : {"cart", "cart-multi", "support"}) {
    TaskSpec spec = load_task_spec(task);
    int64_t total = 0;
    for (const char* split : kSplits) {
      fs::path p = dataset(task) / (std::string(split) + ".jsonl");
      ValidationReport r = validate_jsonl(p.string(), spec);
      EXPECT_TRUE(r.ok()) << task << " " << split << ": line " << r.errors[0].line << ": " << r.errors[0].message;
      total += r.rows;
      std::ifstream f(p);
      std::string line;
      while (std::getline(f, line)) {
        json row = json::parse(line);
        // The output bytes in the file are exactly canonical_answer of the parsed output.
        std::string tail = line.substr(line.find("\"output\": ") + 10);
        tail.pop_back();  // the row's closing brace
        EXPECT_EQ(tail, canonical_answer(spec, row["output"])) << line;
        if (spec.uses_catalog) {
          EXPECT_GE(row["catalog"].size(), 5u) << line;
          EXPECT_LE(row["catalog"].size(), 30u) << line;
        }
        EXPECT_EQ(row["request"].get<std::string>().find('\n'), std::string::npos);
      }
    }
    EXPECT_GT(total, 0) << task;
  }
}

TEST(Datagen, NoLeakageAcrossSplitsExactOrNormalised) {
  for (const char* task : {"cart", "cart-multi", "support"}) {
    std::set<std::string> train_exact, train_norm;
    for (const auto& r : rows(dataset(task) / "train.jsonl")) {
      train_exact.insert(r["request"].get<std::string>());
      train_norm.insert(normalize_for_dedup(r["request"].get<std::string>()));
    }
    std::set<std::string> seen_eval;
    for (const char* split : {"valid", "test", "test_heldout"})
      for (const auto& r : rows(dataset(task) / (std::string(split) + ".jsonl"))) {
        std::string req = r["request"].get<std::string>();
        EXPECT_FALSE(train_exact.count(req)) << task << " " << split << ": " << req;
        EXPECT_FALSE(train_norm.count(normalize_for_dedup(req))) << task << " " << split << ": " << req;
      }
  }
}

TEST(Datagen, HeldoutIsDisjointInTemplatesAndProducts) {
  std::vector<Language> langs;
  for (const auto& code : available_languages(data_dir() + "/lang")) langs.push_back(load_language(data_dir() + "/lang", code));
  for (const char* task : {"cart", "cart-multi", "support"}) {
    json stats = json::parse(slurp(dataset(task) / "stats.json"));
    std::set<std::string> held_templates = stats["heldout_templates"].get<std::set<std::string>>();
    std::set<std::string> held_ids = stats["heldout_products"].get<std::set<std::string>>();
    ASSERT_FALSE(held_templates.empty()) << task;
    std::set<std::string> held_names;
    for (const auto& L : langs)
      for (const auto& b : L.products)
        if (held_ids.count(b.id)) held_names.insert(b.names.begin(), b.names.end());
    for (const char* split : kSplits) {
      bool heldout = std::string(split) == "test_heldout";
      for (const auto& m : rows(dataset(task) / (std::string(split) + ".meta.jsonl")))
        for (const auto& t : m["templates"]) EXPECT_EQ(held_templates.count(t.get<std::string>()) == 1, heldout) << task << " " << split << " " << t;
      if (!load_task_spec(task).uses_catalog) continue;
      ASSERT_FALSE(held_ids.empty());
      for (const auto& r : rows(dataset(task) / (std::string(split) + ".jsonl"))) {
        if (!heldout) {
          for (const auto& c : r["catalog"]) EXPECT_FALSE(held_names.count(c.get<std::string>())) << split << ": " << c;
        } else {
          json actions = r["output"].contains("actions") ? r["output"]["actions"] : json::array({r["output"]});
          for (const auto& a : actions) EXPECT_TRUE(held_names.count(a["product"].get<std::string>())) << a;
        }
      }
    }
  }
}

TEST(Datagen, SplitsAreStratifiedByLanguageAndIntent) {
  for (const char* task : {"cart", "cart-multi", "support"}) {
    json stats = json::parse(slurp(dataset(task) / "stats.json"));
    for (const char* split : kSplits) {
      auto rs = rows(dataset(task) / (std::string(split) + ".jsonl"));
      ASSERT_FALSE(rs.empty()) << task << " " << split;
      const auto& by_lang = stats["splits"][split]["lang"];
      const auto& by_intent = stats["splits"][split]["intent"];
      double n = static_cast<double>(rs.size());
      size_t n_langs = stats["langs"].size();
      for (auto it = by_lang.begin(); it != by_lang.end(); ++it)
        EXPECT_NEAR(it.value().get<double>() / n, 1.0 / n_langs, 0.01) << task << " " << split << " " << it.key();
      for (auto it = by_intent.begin(); it != by_intent.end(); ++it)
        EXPECT_NEAR(it.value().get<double>() / n, 1.0 / by_intent.size(), 0.01) << task << " " << split << " " << it.key();
      // The stats agree with the file.
      EXPECT_EQ(stats["splits"][split]["rows"].get<size_t>(), rs.size());
    }
    // Split shares match the requested fractions (5 % each) within 1 %.
    double total = 0;
    for (const char* split : kSplits) total += stats["splits"][split]["rows"].get<double>();
    for (const char* split : {"valid", "test", "test_heldout"})
      EXPECT_NEAR(stats["splits"][split]["rows"].get<double>() / total, 0.05, 0.01) << task << " " << split;
  }
}

TEST(Datagen, CodeSwitchingAndQuantityFormsHappen) {
  size_t langs = available_languages(data_dir() + "/lang").size();
  if (langs < 2) GTEST_SKIP() << "code-switching needs two languages";
  // Enough rows that a 10 % rate is measured to about +-1 %.
  fs::path dir = test::temp_dir();
  generate_dataset(options("cart", 3000, 5, dir));
  json stats = json::parse(slurp(dir / "stats.json"));
  int64_t switched = stats["splits"]["train"]["code_switched"].get<int64_t>();
  int64_t total = static_cast<int64_t>(rows(dir / "train.meta.jsonl").size());
  EXPECT_EQ(total, stats["splits"]["train"]["rows"].get<int64_t>());
  EXPECT_NEAR(static_cast<double>(switched) / total, 0.10, 0.03);
  // The sidecar agrees: the catalog's language differs from the request's exactly that often.
  auto data = rows(dir / "train.jsonl"), meta = rows(dir / "train.meta.jsonl");
  int64_t differ = 0;
  for (size_t i = 0; i < data.size(); ++i) differ += data[i]["lang"] != meta[i]["catalog_lang"];
  EXPECT_EQ(differ, switched);
  // The quantity-form mix covers the ways of saying a quantity.
  const auto& forms = stats["splits"]["train"]["quantity_form"];
  for (const char* f : {"unstated", "word", "digit", "unit"}) EXPECT_TRUE(forms.contains(f)) << f;
}

// A request names its product unambiguously: when another variant of the target's product is in
// the catalog, the message carries the target's attribute text ("the ones in black, 42", "two pairs
// of jeans in black, W32 L32"). Noise and code-switching are off so the text can be searched.
TEST(Datagen, RequestNamesTheVariantWhenASiblingIsInTheCatalog) {
  fs::path dir = test::temp_dir();
  GenOptions o = options("cart", 4000, 7, dir);
  o.noise = NoiseRates{0, 0, 0, 0, 0, 0};
  o.code_switch_ppm = 0;
  o.catalog_min = 3;
  o.catalog_max = 8;
  generate_dataset(o);
  std::map<std::string, Language> langs;
  int64_t checked = 0;
  for (const json& row : rows(dir / "train.jsonl")) {
    const std::string code = row["lang"];
    if (!langs.count(code)) langs.emplace(code, load_language(data_dir() + "/lang", code));
    const Language& L = langs.at(code);
    const std::string target = row["output"]["product"];
    for (const ProductBase& b : L.products)
      for (size_t v = 0; v < b.names.size(); ++v) {
        if (b.names[v] != target) continue;
        bool sibling = false;
        for (const auto& name : row["catalog"])
          for (size_t w = 0; w < b.names.size(); ++w) sibling = sibling || (w != v && name == b.names[w]);
        if (!sibling) continue;
        ++checked;
        EXPECT_NE(to_lower(row["request"].get<std::string>()).find(to_lower(b.variants[v])), std::string::npos)
            << row["id"] << ": \"" << row["request"].get<std::string>() << "\" does not say \"" << b.variants[v]
            << "\" but the catalog also has other variants of " << b.id;
      }
  }
  EXPECT_GT(checked, 500);
}

TEST(Datagen, CatalogSizeIsWithinTheAskedRange) {
  fs::path dir = test::temp_dir();
  GenOptions o = options("cart", 400, 3, dir);
  o.catalog_min = 3;
  o.catalog_max = 6;
  generate_dataset(o);
  size_t lo = 1000, hi = 0;
  for (const char* split : kSplits)
    for (const json& row : rows(dir / (std::string(split) + ".jsonl"))) {
      lo = std::min(lo, row["catalog"].size());
      hi = std::max(hi, row["catalog"].size());
    }
  // (A target and its 1-3 sibling variants always go in: at most 4 entries, below this maximum.)
  EXPECT_EQ(lo, 3u);
  EXPECT_EQ(hi, 6u);
  o.catalog_min = 7;
  EXPECT_THROW(generate_dataset(o), Error);
  o.catalog_min = 0;
  EXPECT_THROW(generate_dataset(o), Error);
}

TEST(Datagen, BadOptionsAreClearErrors) {
  fs::path dir = test::temp_dir();
  GenOptions o = options("cart", 10, 1, dir);
  o.langs = {"xx"};
  EXPECT_THROW(generate_dataset(o), Error);
  o.langs = {};
  o.task = "nope";
  EXPECT_THROW(generate_dataset(o), Error);
  o.task = "cart";
  o.n = 0;
  EXPECT_THROW(generate_dataset(o), Error);
  EXPECT_FALSE(fs::exists(dir / "train.jsonl"));
}

}  // namespace
}  // namespace si
