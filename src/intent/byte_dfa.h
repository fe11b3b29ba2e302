// intent/byte_dfa.h — a deterministic automaton over the bytes of an answer text.
//
//   ByteDfa dfa;
//   int end = dfa.add_state(/*field=*/-1, /*accept=*/true);
//   int s = dfa.add_literal("}", end, -1);                 // "}" then end
//   s = dfa.add_alternatives({"2", "3"}, s, /*field=*/2);  // "2" | "3", then s
//   dfa.set_start(dfa.add_literal("{\"quantity\": ", s, -1));
//
// Built right to left: every builder call takes the state that follows and returns its own entry.
// The language of a task spec (keys, punctuation, enum values, catalog names, bounded integers,
// bounded lists) is finite, and its alternatives are told apart by their next byte (a closing quote
// can't occur raw inside an escaped JSON string, a digit can't be '}' ...), so the automaton is
// deterministic; a builder call that would make it ambiguous throws si::Error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace si {

class ByteDfa {
 public:
  static constexpr int kNone = -1;

  struct State {
    std::vector<std::pair<uint8_t, int>> next;  // sorted by byte
    bool accept = false;                        // the answer may end here
    int field = -1;                             // output field this byte position belongs to (-1: structure)
  };

  int add_state(int field, bool accept = false);
  // `text` then `next`; returns the entry state (== next when text is empty).
  int add_literal(std::string_view text, int next, int field);
  // One of `options` (none a proper prefix of another unless told apart by next's first bytes),
  // then `next`. Returns the entry state.
  int add_alternatives(const std::vector<std::string>& options, int next, int field);
  // Makes `from` also behave like `to` (epsilon move), copying to's transitions and accept flag.
  void merge_into(int from, int to);
  void add_edge(int from, uint8_t byte, int to);

  void set_start(int s) { start_ = s; }
  int start() const { return start_; }
  int step(int state, uint8_t byte) const;  // kNone when the byte is not allowed
  int walk(int state, std::string_view bytes) const;
  const State& state(int s) const { return states_[size_t(s)]; }
  size_t size() const { return states_.size(); }

  // The bytes forced from `s` on: follows the chain while exactly one byte is possible and the
  // answer cannot end. Returns them (possibly empty).
  std::string forced_run(int s) const;
  // Whether `text` is a complete answer.
  bool accepts(std::string_view text) const;
  // Every complete answer (for tests; stops after `limit`).
  std::vector<std::string> enumerate(size_t limit) const;

 private:
  std::vector<State> states_;
  int start_ = kNone;
};

}  // namespace si
