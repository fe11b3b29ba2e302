#include "intent/byte_dfa.h"

#include <algorithm>
#include <functional>

#include "core/error.h"

namespace si {

int ByteDfa::add_state(int field, bool accept) {
  State s;
  s.field = field;
  s.accept = accept;
  states_.push_back(std::move(s));
  return int(states_.size()) - 1;
}

void ByteDfa::add_edge(int from, uint8_t byte, int to) {
  auto& next = states_[size_t(from)].next;
  auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(byte, 0),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
  if (it != next.end() && it->first == byte) {
    if (it->second == to) return;
    fail("answer automaton is ambiguous at byte 0x{:02x} (two alternatives continue the same way)", byte);
  }
  next.insert(it, {byte, to});
}

void ByteDfa::merge_into(int from, int to) {
  const State copy = states_[size_t(to)];  // copy: add_edge may reallocate nothing, but keep it simple
  for (const auto& [b, t] : copy.next) add_edge(from, b, t);
  if (copy.accept) states_[size_t(from)].accept = true;
}

int ByteDfa::add_literal(std::string_view text, int next, int field) {
  int s = next;
  for (size_t i = text.size(); i-- > 0;) {
    const int p = add_state(field);
    add_edge(p, uint8_t(text[i]), s);
    s = p;
  }
  return s;
}

int ByteDfa::add_alternatives(const std::vector<std::string>& options, int next, int field) {
  SI_CHECK(!options.empty(), "answer automaton: a choice with no options");
  // A trie whose leaves continue like `next`.
  const int root = add_state(field);
  for (const auto& opt : options) {
    int s = root;
    for (size_t i = 0; i < opt.size(); ++i) {
      const uint8_t b = uint8_t(opt[i]);
      int t = step(s, b);
      // States made before `root` belong to what follows (built first, right to left): an option
      // byte that leads there would make the automaton ambiguous.
      SI_CHECK(t == kNone || t > root, "answer automaton: option '{}' collides with what follows it", opt);
      if (t == kNone) {
        t = add_state(field);
        add_edge(s, b, t);
      }
      s = t;
    }
    SI_CHECK(s != root, "answer automaton: empty option");
    merge_into(s, next);
  }
  return root;
}

int ByteDfa::step(int state, uint8_t byte) const {
  const auto& next = states_[size_t(state)].next;
  auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(byte, 0),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
  return it != next.end() && it->first == byte ? it->second : kNone;
}

int ByteDfa::walk(int state, std::string_view bytes) const {
  for (char c : bytes) {
    if (state == kNone) return kNone;
    state = step(state, uint8_t(c));
  }
  return state;
}

std::string ByteDfa::forced_run(int s) const {
  std::string run;
  while (s != kNone) {
    const State& st = states_[size_t(s)];
    if (st.accept || st.next.size() != 1) break;
    run.push_back(char(st.next[0].first));
    s = st.next[0].second;
  }
  return run;
}

bool ByteDfa::accepts(std::string_view text) const {
  const int s = walk(start_, text);
  return s != kNone && states_[size_t(s)].accept;
}

std::vector<std::string> ByteDfa::enumerate(size_t limit) const {
  std::vector<std::string> out;
  std::string cur;
  std::function<void(int)> dfs = [&](int s) {
    if (out.size() >= limit) return;
    const State& st = states_[size_t(s)];
    if (st.accept) out.push_back(cur);
    for (const auto& [b, t] : st.next) {
      cur.push_back(char(b));
      dfs(t);
      cur.pop_back();
    }
  };
  if (start_ != kNone) dfs(start_);
  return out;
}

}  // namespace si
