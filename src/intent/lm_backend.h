// intent/lm_backend.h — what the intent engine needs from a model runner.
//
// A backend holds a fixed number of KV-cache slots (one sequence each). The engine appends tokens
// to several slots in one batched pass, reads the final hidden state of each slot's last token and
// asks for logits of chosen vocabulary rows only (constrained decoding never needs the full
// 128k-row head). The CPU model (model/) and the CUDA runner each implement it.
//
//   LmBackend::Append a{slot, tokens.data(), int(tokens.size())};
//   backend.forward({&a, 1}, hidden.data());                 // (1, C)
//   backend.logits(hidden.data(), rows.data(), n, out.data());
//   LmBackend::LogitsQuery q[] = {{0, rows0, n0}, {3, rows3, n3}};   // hidden rows 0 and 3
//   backend.logits_batch(hidden.data(), q, out.data());              // n0 + n3 values, in order
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace si {

class LmBackend {
 public:
  virtual ~LmBackend() = default;

  virtual int n_vocab() const = 0;
  virtual int hidden_size() const = 0;
  virtual int n_slots() const = 0;
  virtual int slot_capacity() const = 0;          // tokens one slot can hold
  virtual size_t slot_bytes() const = 0;          // KV bytes of one full slot
  virtual uint64_t model_bytes() const = 0;       // weight bytes

  virtual int slot_length(int slot) const = 0;
  virtual void clear_slot(int slot) = 0;
  // dst := the first n tokens of src (KV copy; cheaper than recomputing a shared prefix).
  virtual void copy_slot(int src, int dst, int n_tokens) = 0;

  struct Append {
    int slot;
    const int32_t* tokens;
    int n_tokens;  // >= 1
  };
  // Appends every entry's tokens to its slot, all in one batched pass, and writes the final
  // (normed) hidden state of each entry's last token: hidden is (batch.size(), hidden_size).
  virtual void forward(std::span<const Append> batch, float* hidden) = 0;
  // Logits of vocabulary rows `rows` (n_rows of them) for one hidden state; rows == nullptr means
  // every row (n_rows must then be n_vocab()).
  virtual void logits(const float* hidden, const int32_t* rows, int n_rows, float* out) = 0;

  struct LogitsQuery {
    int hidden_row;        // row of `hidden` (batch, hidden_size)
    const int32_t* rows;   // vocabulary rows; nullptr means all (n_rows == n_vocab())
    int n_rows;
  };
  // Several logits requests at once (one per decoding sequence of a step): `out` receives each
  // query's n_rows values, query after query. Each value equals what logits() gives for the same
  // hidden row and vocabulary row, so results do not depend on how requests are grouped. This
  // default loops over logits(); a backend with a fixed cost per call (the GPU's copies, launch
  // and synchronisation) overrides it with one pass.
  virtual void logits_batch(const float* hidden, std::span<const LogitsQuery> queries, float* out);
};

inline void LmBackend::logits_batch(const float* hidden, std::span<const LogitsQuery> queries, float* out) {
  const size_t C = size_t(hidden_size());
  for (const LogitsQuery& q : queries) {
    logits(hidden + size_t(q.hidden_row) * C, q.rows, q.n_rows, out);
    out += q.n_rows;
  }
}

}  // namespace si
