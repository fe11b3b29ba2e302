// tests/intent/fake_backend.h — a stand-in model for testing the intent engine's logic.
//
// Its "KV cache" is the list of token ids in each slot, its hidden state is the slot number, and
// its logits favour the tokens that continue a scripted answer for the message in the slot (the
// longer the match, the higher), so the best path spells that answer's canonical tokens.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "intent/lm_backend.h"
#include "tokenizer/tokenizer.h"

namespace si::test {

class FakeBackend : public LmBackend {
 public:
  FakeBackend(const Tokenizer& tok, int n_slots, int capacity) : tok_(tok), slots_(size_t(n_slots)), capacity_(capacity) {}

  std::map<std::string, std::string> script;  // message -> answer text the "model" wants to write
  int forward_calls = 0;
  int64_t tokens_fed = 0;
  int64_t logit_rows = 0;

  int n_vocab() const override { return tok_.vocab_size(); }
  int hidden_size() const override { return 1; }
  int n_slots() const override { return int(slots_.size()); }
  int slot_capacity() const override { return capacity_; }
  size_t slot_bytes() const override { return size_t(capacity_) * 4; }
  uint64_t model_bytes() const override { return 0; }
  int slot_length(int slot) const override { return int(slots_.at(size_t(slot)).size()); }
  void clear_slot(int slot) override { slots_.at(size_t(slot)).clear(); }
  void copy_slot(int src, int dst, int n) override {
    const auto& s = slots_.at(size_t(src));
    SI_CHECK(n <= int(s.size()), "copy of {} tokens from a slot of {}", n, s.size());
    slots_.at(size_t(dst)).assign(s.begin(), s.begin() + n);
  }
  void forward(std::span<const Append> batch, float* hidden) override {
    ++forward_calls;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& s = slots_.at(size_t(batch[i].slot));
      s.insert(s.end(), batch[i].tokens, batch[i].tokens + batch[i].n_tokens);
      SI_CHECK(int(s.size()) <= capacity_, "slot overflow");
      tokens_fed += batch[i].n_tokens;
      hidden[i] = float(batch[i].slot);
    }
  }
  void logits(const float* hidden, const int32_t* rows, int n_rows, float* out) override {
    logit_rows += n_rows;
    const std::string text = tok_.decode(slots_.at(size_t(hidden[0])));
    const size_t m = text.rfind("Message: "), a = text.rfind("\nAnswer: ");
    SI_CHECK(m != std::string::npos && a != std::string::npos && a > m, "fake model: no message in the slot");
    const std::string message = text.substr(m + 9, a - m - 9);
    const std::string written = text.substr(a + 9);
    const std::string& want = script.at(message);
    const std::string rest = want.compare(0, written.size(), written) == 0 ? want.substr(written.size()) : "";
    for (int i = 0; i < n_rows; ++i) {
      const int32_t id = rows ? rows[i] : i;
      const std::string& b = tok_.token_bytes(id);
      if (id == tok_.eos_id()) out[i] = rest.empty() ? 100.f : -10.f;
      else if (!b.empty() && rest.compare(0, b.size(), b) == 0) out[i] = 10.f * float(b.size());
      else out[i] = -10.f;
    }
  }

 private:
  const Tokenizer& tok_;
  std::vector<std::vector<int32_t>> slots_;
  int capacity_;
};

}  // namespace si::test
