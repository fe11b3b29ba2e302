#include <gtest/gtest.h>

#include "core/error.h"
#include "core/mmap.h"
#include "corpus.h"
#include "test_paths.h"
#include "tokenizer/bpe_train.h"

namespace si {
namespace {

std::vector<std::string> training_text() {
  std::vector<std::string> lines = test::read_corpus(test::source_path("tests/golden/tokenizer/corpus.txt"));
  lines.resize(std::min<size_t>(lines.size(), 800));
  return lines;
}

Tokenizer train(const std::vector<std::string>& lines, int32_t vocab, std::vector<std::string> extra = {}) {
  BpeTrainer trainer;
  for (const auto& l : lines) trainer.add_text(l);
  BpeTrainOptions opt;
  opt.vocab_size = vocab;
  opt.extra_specials = std::move(extra);
  return trainer.train(opt);
}

TEST(BpeTrain, LayoutBytesThenMergesThenSpecials) {
  const Tokenizer tok = train(training_text(), 700, {"<|eot_id|>"});
  EXPECT_EQ(tok.vocab_size(), 700);
  EXPECT_EQ(tok.piece(0), "!");
  EXPECT_EQ(tok.token_bytes(188), std::string(1, '\0'));
  EXPECT_EQ(tok.piece(697), "<|begin_of_text|>");
  EXPECT_EQ(tok.bos_id(), 697);
  EXPECT_EQ(tok.eos_id(), 698);
  EXPECT_EQ(tok.piece(699), "<|eot_id|>");
  EXPECT_EQ(tok.token_type(699), TokenType::Control);
  EXPECT_GE(tok.spec().merges.size(), size_t(700 - 256 - 3));
  for (int32_t id = 256; id < 697; ++id) EXPECT_GE(tok.token_bytes(id).size(), 2u) << id;
}

TEST(BpeTrain, MostFrequentPairIsMergedFirst) {
  std::vector<std::string> lines(50, "xy xy xy zq");
  lines.push_back("zq");
  const Tokenizer tok = train(lines, 260);
  ASSERT_FALSE(tok.spec().merges.empty());
  // " xy" occurs 100 times, "xy" 50 times: the pair (x, y) is seen 150 times, more than any other.
  EXPECT_EQ(tok.spec().merges[0], (std::pair<std::string, std::string>{"x", "y"}));
  EXPECT_EQ(tok.encode("xy", false).size(), 1u);
}

TEST(BpeTrain, RoundTripsCompressesAndIsDeterministic) {
  const std::vector<std::string> lines = training_text();
  const Tokenizer a = train(lines, 1000);
  const Tokenizer b = train(lines, 1000);
  const auto dir = test::temp_dir();
  a.save_hf_json((dir / "a.json").string());
  b.save_hf_json((dir / "b.json").string());
  EXPECT_EQ(read_file((dir / "a.json").string()), read_file((dir / "b.json").string()));

  const Tokenizer loaded = Tokenizer::from_hf_json((dir / "a.json").string());
  size_t bytes = 0, tokens = 0;
  for (const std::string& s : test::read_corpus(test::source_path("tests/golden/tokenizer/corpus.txt"))) {
    const std::vector<int32_t> ids = loaded.encode(s, true);
    ASSERT_EQ(loaded.decode(ids), s);
    ASSERT_EQ(a.encode(s, true), ids);
    bytes += s.size();
    tokens += ids.size();
  }
  EXPECT_LT(double(tokens), 0.6 * double(bytes));  // the merges learned something
}

TEST(BpeTrain, RejectsAVocabularyTooSmallForBytesAndSpecials) {
  EXPECT_THROW(train({"abc"}, 257), Error);
  EXPECT_THROW(train({"abc"}, 300, {"<|begin_of_text|>"}), Error);
  const Tokenizer tiny = train({"abc"}, 258);  // no pair seen twice: bytes + specials only
  EXPECT_EQ(tiny.vocab_size(), 258);
  EXPECT_EQ(tiny.decode(tiny.encode("abc", false)), "abc");
}

}  // namespace
}  // namespace si
