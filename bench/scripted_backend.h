// bench/scripted_backend.h — pins the intent engine's answers for benchmarks of real shapes with
// random weights.
//
// A random model's constrained choices follow its numerics: a change of kernel flips greedy picks,
// the answer's length and number of choices change with it, and timings stop being comparable
// across commits. ScriptedBackend forwards every call to the real backend (the model's work is all
// done and paid for) and then replaces the logits it returns by scores that favour a scripted
// answer per request: among the allowed tokens, the longest one that continues the answer's
// remaining text wins (eos once it is all written), as a trained model picking canonical tokens
// would. The engine itself runs unchanged; only its decisions are fixed.
//
//   ScriptedBackend sb(cuda_backend, tok, {{encode_prompt(tok, spec, catalog, text).request, answer}, ...});
//   IntentEngine engine(sb, tok, spec, {...});
//
// A slot is tied to a script when a forward entry holds the script's request tokens; the tokens
// fed to that slot after them must spell the answer (checked: a forced token that leaves the script
// throws). The backend's hidden states stay opaque: a logits query names its row of the last
// forward's output (logits(): its pointer does), and that row's slot gives the script.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "intent/lm_backend.h"
#include "tokenizer/tokenizer.h"

namespace si::bench {

class ScriptedBackend : public LmBackend {
 public:
  struct Script {
    std::vector<int32_t> request;  // the request's prompt tokens (what follows the cached prefix)
    std::string answer;            // the answer text to write (a canonical answer of the spec)
  };
  ScriptedBackend(LmBackend& inner, const Tokenizer& tok, std::vector<Script> scripts)
      : b_(inner), tok_(tok), scripts_(std::move(scripts)), slot_(size_t(inner.n_slots())) {}

  int64_t forward_calls = 0, logits_calls = 0;  // calls made to the real backend
  double forward_ms = 0, logits_ms = 0;          // wall time inside them (each ends synchronised)
  int64_t logit_rows = 0;                        // vocabulary rows asked for
  struct Pass {
    int entries, tokens;
    double ms;
  };
  std::vector<Pass> passes;                      // every forward call

  int n_vocab() const override { return b_.n_vocab(); }
  int hidden_size() const override { return b_.hidden_size(); }
  int n_slots() const override { return b_.n_slots(); }
  int slot_capacity() const override { return b_.slot_capacity(); }
  size_t slot_bytes() const override { return b_.slot_bytes(); }
  uint64_t model_bytes() const override { return b_.model_bytes(); }
  int slot_length(int slot) const override { return b_.slot_length(slot); }
  void clear_slot(int slot) override {
    slot_.at(size_t(slot)) = {};
    b_.clear_slot(slot);
  }
  void copy_slot(int src, int dst, int n) override {
    slot_.at(size_t(dst)) = {};  // a prefix (the catalog); the request comes after
    b_.copy_slot(src, dst, n);
  }

  void forward(std::span<const Append> batch, float* hidden) override {
    last_slots_.clear();
    for (const Append& a : batch) {
      last_slots_.push_back(a.slot);
      State& st = slot_.at(size_t(a.slot));
      int from = 0;  // tokens from here on are answer tokens
      if (const auto [s, end] = find_request(a); s) {
        st = {s, 0};
        from = end;
      }
      if (!st.script) continue;  // a catalog prefill
      for (int i = from; i < a.n_tokens; ++i) {
        const std::string& b = tok_.token_bytes(a.tokens[i]);
        SI_CHECK(st.script->answer.compare(st.written, b.size(), b) == 0,
                 "scripted backend: token '{}' leaves the answer '{}' after {} bytes", b, st.script->answer,
                 st.written);
        st.written += b.size();
      }
    }
    last_hidden_ = hidden;
    ++forward_calls;
    const Clock::time_point t0 = Clock::now();
    b_.forward(batch, hidden);
    const double ms = ms_since(t0);
    forward_ms += ms;
    int tokens = 0;
    for (const Append& a : batch) tokens += a.n_tokens;
    passes.push_back({int(batch.size()), tokens, ms});
  }

  void logits(const float* hidden, const int32_t* rows, int n_rows, float* out) override {
    ++logits_calls;
    logit_rows += n_rows;
    const Clock::time_point t0 = Clock::now();
    b_.logits(hidden, rows, n_rows, out);
    logits_ms += ms_since(t0);
    SI_CHECK(last_hidden_ != nullptr && hidden >= last_hidden_, "scripted backend: logits of an unknown hidden state");
    score(last_slots_.at(size_t((hidden - last_hidden_) / hidden_size())), rows, n_rows, out);
  }
  void logits_batch(const float* hidden, std::span<const LogitsQuery> queries, float* out) override {
    ++logits_calls;
    for (const LogitsQuery& q : queries) logit_rows += q.n_rows;
    const Clock::time_point t0 = Clock::now();
    b_.logits_batch(hidden, queries, out);
    logits_ms += ms_since(t0);
    SI_CHECK(hidden == last_hidden_, "scripted backend: logits of an unknown hidden state");
    for (const LogitsQuery& q : queries) {
      score(last_slots_.at(size_t(q.hidden_row)), q.rows, q.n_rows, out);
      out += q.n_rows;
    }
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  struct State {
    const Script* script = nullptr;
    size_t written = 0;  // answer bytes fed so far
  };
  // The script whose request tokens the entry holds (the engine may queue the answer's first
  // forced tokens behind them), and where they end in the entry.
  std::pair<const Script*, int> find_request(const Append& a) const {
    const int32_t* end = a.tokens + a.n_tokens;
    for (const Script& s : scripts_) {
      const int32_t* at = std::search(a.tokens, end, s.request.begin(), s.request.end());
      if (!s.request.empty() && at != end) return {&s, int(at - a.tokens) + int(s.request.size())};
    }
    return {nullptr, 0};
  }
  // The longest allowed token that continues the rest of the answer scores highest; eos wins once
  // the answer is complete.
  void score(int slot, const int32_t* rows, int n_rows, float* out) const {
    const State& st = slot_.at(size_t(slot));
    SI_CHECK(st.script != nullptr, "scripted backend: a choice in slot {}, which holds no scripted request", slot);
    const std::string& a = st.script->answer;
    const size_t rest = a.size() - st.written;
    for (int i = 0; i < n_rows; ++i) {
      const int32_t id = rows ? rows[i] : i;
      const std::string& b = tok_.token_bytes(id);
      if (id == tok_.eos_id()) out[i] = rest == 0 ? 1e4f : -1e4f;
      else if (!b.empty() && b.size() <= rest && a.compare(st.written, b.size(), b) == 0) out[i] = float(b.size());
      else out[i] = -1e4f;
    }
  }

  LmBackend& b_;
  const Tokenizer& tok_;
  std::vector<Script> scripts_;
  std::vector<State> slot_;
  std::vector<int> last_slots_;  // slot of each entry of the last forward batch
  const float* last_hidden_ = nullptr;
};

}  // namespace si::bench
