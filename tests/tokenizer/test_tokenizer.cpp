#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/mmap.h"
#include "corpus.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#ifdef SI_TOKENIZER_HAVE_GGUF
#include "formats/gguf.h"
#endif

namespace si {
namespace {

const char* kFixtureSentence = "I need 2 \xC3\x84pfel, pain, leche y \xE7\x89\x9B\xE5\xA5\xB6 for 5\xE2\x82\xAC \xF0\x9F\x9B\x92";

std::vector<int32_t> fixture_tokens() { return test::parse_ids(read_file(test::fixture("gguf/tokens.txt"))); }

std::vector<int32_t> with_bos(const Tokenizer& tok, std::string_view text) {
  std::vector<int32_t> ids{tok.bos_id()};
  tok.encode(text, false, ids);
  return ids;
}

TEST(Tokenizer, FixtureSentenceFromTokenizerJson) {
  const std::string path = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(path);
  const Tokenizer tok = Tokenizer::from_hf_json(path);
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 510);
  EXPECT_EQ(tok.eos_id(), 511);
  const std::vector<int32_t> ids = with_bos(tok, kFixtureSentence);
  EXPECT_EQ(ids, fixture_tokens());
  EXPECT_EQ(tok.decode(std::span(ids).subspan(1)), kFixtureSentence);
}

TEST(Tokenizer, ModelDirectoryAndLoadFindTheSameTokenizer) {
  const std::string dir = test::fixture("gguf/hf");
  SI_REQUIRE_FIXTURE(dir);
  EXPECT_EQ(with_bos(Tokenizer::load(dir), kFixtureSentence), fixture_tokens());
}

#ifdef SI_TOKENIZER_HAVE_GGUF
TEST(Tokenizer, FixtureSentenceFromGguf) {
  const std::string path = test::fixture("gguf/model-F32.gguf");
  SI_REQUIRE_FIXTURE(path);
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(path));
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 510);
  EXPECT_EQ(tok.eos_id(), 511);
  EXPECT_EQ(with_bos(tok, kFixtureSentence), fixture_tokens());
  const Tokenizer json = Tokenizer::from_hf_json(test::fixture("gguf/hf/tokenizer.json"));
  for (int32_t id = 0; id < 512; ++id) ASSERT_EQ(tok.token_bytes(id), json.token_bytes(id)) << id;
  EXPECT_EQ(with_bos(Tokenizer::load(test::fixture("gguf/model-Q4_K_M.gguf")), kFixtureSentence), fixture_tokens());
}
#endif

TEST(Tokenizer, SpecialTokensAreParsedOnlyWhenAsked) {
  const std::string path = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(path);
  const Tokenizer tok = Tokenizer::from_hf_json(path);
  const std::string text = "a<|end_of_text|>b<|begin_of_text|";
  const std::vector<int32_t> parsed = tok.encode(text, true);
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed[1], 511);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), 510), 0);  // the unterminated one stays text
  const std::vector<int32_t> plain = tok.encode(text, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 511), 0);
  EXPECT_EQ(tok.decode(parsed), text);
  EXPECT_EQ(tok.decode(plain), text);
  EXPECT_EQ(tok.token_id("<|end_of_text|>"), 511);
  EXPECT_EQ(tok.token_id("\xC4\xA0"), 220);  // "Ġ"
  EXPECT_EQ(tok.token_id("no such token"), -1);
  EXPECT_EQ(tok.token_type(511), TokenType::Control);
  EXPECT_EQ(tok.piece(220), "\xC4\xA0");
  EXPECT_EQ(tok.token_bytes(220), " ");
}

TEST(Tokenizer, AnyByteStringRoundTrips) {
  const std::string path = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(path);
  const Tokenizer tok = Tokenizer::from_hf_json(path);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = char(trial % 2 ? rng() % 256 : " \t\nae1'.\xC3\xA9"[rng() % 11]);
    const std::vector<int32_t> ids = tok.encode(s, trial % 3 == 0);
    ASSERT_EQ(tok.decode(ids), s) << "trial " << trial;
  }
  // A long piece goes through the heap path of the merge loop.
  const std::string long_word(5000, 'a');
  EXPECT_EQ(tok.decode(tok.encode(long_word, false)), long_word);
}

TEST(Tokenizer, DecodeRejectsIdsOutOfRange) {
  const std::string path = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(path);
  const Tokenizer tok = Tokenizer::from_hf_json(path);
  const std::vector<int32_t> bad{1, 512};
  EXPECT_THROW(tok.decode(bad), Error);
  EXPECT_THROW(tok.token_bytes(-1), Error);
}

// --- errors: one line naming the file and the problem ------------------------------------------

std::string load_error(const std::string& path) {
  try {
    Tokenizer::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerErrors, MissingFileAndDirectoryWithoutTokenizer) {
  const auto dir = test::temp_dir();
  std::string msg = load_error((dir / "nope.json").string());
  EXPECT_NE(msg.find("nope.json"), std::string::npos) << msg;
  msg = load_error(dir.string());
  EXPECT_NE(msg.find("no tokenizer.json"), std::string::npos) << msg;
}

TEST(TokenizerErrors, MalformedJsonNamesFileAndOffset) {
  const auto dir = test::temp_dir();
  const std::string path = (dir / "tokenizer.json").string();
  std::ofstream(path) << "{\"model\": {\"type\": \"BPE\",, }";
  const std::string msg = load_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(TokenizerErrors, UnsupportedOrBrokenStructure) {
  const std::string fixture = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(fixture);
  const auto dir = test::temp_dir();
  const std::string good = read_file(fixture);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    const std::string path = (dir / "tokenizer.json").string();
    std::ofstream(path, std::ios::trunc) << s;
    return load_error(path);
  };
  EXPECT_NE(with("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}").find("normalizer"), std::string::npos);
  EXPECT_NE(with("\"type\": \"BPE\"", "\"type\": \"Unigram\"").find("Unigram"), std::string::npos);
  EXPECT_NE(with("'s|'t", "'S|'t").find("pattern"), std::string::npos);
  EXPECT_NE(with("\"merges\": [", "\"merges\": [\"zzz qqq\",").find("merge 0"), std::string::npos);
  EXPECT_NE(with("\"!\": 0,", "").find("byte 0x21"), std::string::npos);
  EXPECT_NE(with("\"model\": {", "\"modelx\": {").find("missing key 'model'"), std::string::npos);
}

// --- writing ------------------------------------------------------------------------------------

TEST(Tokenizer, SavedJsonLoadsBackIdentically) {
  const std::string path = test::fixture("gguf/hf/tokenizer.json");
  SI_REQUIRE_FIXTURE(path);
  const Tokenizer tok = Tokenizer::from_hf_json(path);
  const std::string out = (test::temp_dir() / "tokenizer.json").string();
  tok.save_hf_json(out);
  const Tokenizer back = Tokenizer::from_hf_json(out);
  EXPECT_EQ(back.spec().pieces, tok.spec().pieces);
  EXPECT_EQ(back.spec().types, tok.spec().types);
  EXPECT_EQ(back.spec().merges, tok.spec().merges);
  EXPECT_EQ(back.spec().ignore_merges, tok.spec().ignore_merges);
  EXPECT_EQ(with_bos(back, kFixtureSentence), fixture_tokens());
}

}  // namespace
}  // namespace si
