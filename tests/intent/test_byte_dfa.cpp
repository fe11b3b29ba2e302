#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "core/error.h"
#include "intent/byte_dfa.h"
#include "intent/token_trie.h"

namespace si {
namespace {

// {"p": "<name>", "q": <1..12>}
ByteDfa toy(const std::vector<std::string>& names) {
  ByteDfa d;
  const int end = d.add_state(-1, true);
  int s = d.add_literal("}", end, -1);
  std::vector<std::string> ints;
  for (int i = 1; i <= 12; ++i) ints.push_back(std::to_string(i));
  s = d.add_alternatives(ints, s, 1);
  s = d.add_literal("\", \"q\": ", s, -1);
  s = d.add_alternatives(names, s, 0);
  d.set_start(d.add_literal("{\"p\": \"", s, -1));
  return d;
}

TEST(ByteDfa, AcceptsExactlyTheLanguage) {
  const ByteDfa d = toy({"Milch", "Milch 1 l", "Brot"});
  EXPECT_TRUE(d.accepts("{\"p\": \"Milch\", \"q\": 2}"));
  EXPECT_TRUE(d.accepts("{\"p\": \"Milch 1 l\", \"q\": 12}"));
  EXPECT_FALSE(d.accepts("{\"p\": \"Milch 1\", \"q\": 2}"));
  EXPECT_FALSE(d.accepts("{\"p\": \"Brot\", \"q\": 13}"));
  EXPECT_FALSE(d.accepts("{\"p\": \"Brot\", \"q\": 0}"));
  EXPECT_FALSE(d.accepts("{\"p\": \"Brot\", \"q\": 2"));
  const auto all = d.enumerate(1000);
  EXPECT_EQ(all.size(), 3u * 12u);
  for (const auto& a : all) EXPECT_TRUE(d.accepts(a)) << a;
}

TEST(ByteDfa, ForcedRunsStopAtChoices) {
  const ByteDfa d = toy({"Milch", "Brot"});
  EXPECT_EQ(d.forced_run(d.start()), "{\"p\": \"");
  const int after_name = d.walk(d.start(), "{\"p\": \"Brot");
  EXPECT_EQ(d.forced_run(after_name), "\", \"q\": ");
  const int after_1 = d.walk(d.start(), "{\"p\": \"Brot\", \"q\": 1");
  EXPECT_EQ(d.forced_run(after_1), "");  // "1" may go on to "10".."12" or close
}

TEST(ByteDfa, AmbiguityIsAnError) {
  ByteDfa d;
  const int end = d.add_state(-1, true);
  const int s = d.add_literal("\"", end, -1);
  // After "a" a quote could close the string or continue "a\"b": both orders are caught.
  EXPECT_THROW(d.add_alternatives({"a", "a\"b"}, s, 0), Error);
  EXPECT_THROW(d.add_alternatives({"a\"b", "a"}, s, 0), Error);
  EXPECT_NO_THROW(d.add_alternatives({"a\\\"b", "a"}, s, 0));  // escaped quote: fine
}

TEST(TokenTrie, AllowsExactlyTheTokensTheAutomatonReads) {
  const ByteDfa d = toy({"Milch", "Milch 1 l", "Brot"});
  const std::vector<std::string> vocab = {"{\"", "p", "\":", " \"", "M", "Mil", "Milch", "ch", " ", "1",
                                          " l", "\",", "B", "Brot", "ro", "t", "\"", "}", "", "12", "x", "Milk"};
  TokenTrie trie(vocab);
  std::vector<int32_t> ids;
  const int at_name = d.walk(d.start(), "{\"p\": \"");
  trie.allowed(d, at_name, &ids);
  std::set<std::string> got;
  for (int32_t id : ids) got.insert(vocab[size_t(id)]);
  EXPECT_EQ(got, (std::set<std::string>{"M", "Mil", "Milch", "B", "Brot"}));
  // Brute force: a token is allowed iff walking its bytes stays inside the automaton.
  for (int state = 0; state < int(d.size()); ++state) {
    trie.allowed(d, state, &ids);
    for (size_t id = 0; id < vocab.size(); ++id) {
      const bool ok = !vocab[id].empty() && d.walk(state, vocab[id]) != ByteDfa::kNone;
      EXPECT_EQ(ok, std::binary_search(ids.begin(), ids.end(), int32_t(id))) << "state " << state << " token " << vocab[id];
    }
  }
}

}  // namespace
}  // namespace si
