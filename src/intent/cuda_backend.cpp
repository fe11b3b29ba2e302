#include "intent/cuda_backend.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/cuda/device.h"

namespace si {

CudaBackend::CudaBackend(const LlamaModel& model, CudaRunnerOptions options) {
  if (!cuda::available())
    fail("--device cuda: no usable CUDA device on this machine (no GPU or no driver); use --device cpu");
  runner_ = std::make_unique<CudaLlamaRunner>(model, options);
}

CudaBackend::CudaBackend(std::unique_ptr<CudaLlamaRunner> runner) : runner_(std::move(runner)) {
  SI_CHECK(runner_ != nullptr, "CudaBackend: no runner");
}

void CudaBackend::forward(std::span<const Append> batch, float* hidden) {
  const int cap = runner_->max_tokens();
  const size_t C = size_t(hidden_size());
  std::vector<CudaLlamaRunner::Append> pass;
  int64_t total = 0;
  for (const Append& a : batch) {
    pass.push_back({a.slot, a.tokens, a.n_tokens});
    total += a.n_tokens;
  }
  std::vector<int> slots;
  for (const Append& a : batch) slots.push_back(a.slot);
  std::sort(slots.begin(), slots.end());
  const bool distinct = std::adjacent_find(slots.begin(), slots.end()) == slots.end();
  if (total <= cap && distinct) {  // the usual case: one pass straight into `hidden`
    runner_->append(pass, hidden);
    return;
  }
  // Several passes: an entry's pieces go in order, never two pieces of one slot in the same pass
  // (the runner places each entry at its slot's length when the pass starts).
  constexpr size_t kNone = size_t(-1);
  std::vector<size_t> owner;  // batch index whose last token a pass entry holds, or kNone
  std::vector<float> h;
  int used = 0;
  pass.clear();
  auto flush = [&] {
    if (pass.empty()) return;
    h.resize(pass.size() * C);
    runner_->append(pass, hidden ? h.data() : nullptr);
    for (size_t i = 0; i < pass.size(); ++i)
      if (hidden && owner[i] != kNone) std::copy_n(h.data() + i * C, C, hidden + owner[i] * C);
    pass.clear();
    owner.clear();
    used = 0;
  };
  for (size_t b = 0; b < batch.size(); ++b) {
    const Append& a = batch[b];
    SI_CHECK(a.n_tokens >= 1, "forward: slot {} gets {} tokens, need at least 1", a.slot, a.n_tokens);
    for (int done = 0; done < a.n_tokens;) {
      const bool slot_in_pass =
          std::any_of(pass.begin(), pass.end(), [&](const CudaLlamaRunner::Append& p) { return p.slot == a.slot; });
      if (used == cap || slot_in_pass) flush();
      const int n = std::min(a.n_tokens - done, cap - used);
      pass.push_back({a.slot, a.tokens + done, n});
      done += n;
      used += n;
      owner.push_back(done == a.n_tokens ? b : kNone);
    }
  }
  flush();
}

void CudaBackend::logits(const float* hidden, const int32_t* rows, int n_rows, float* out) {
  runner_->logits(hidden, 1, rows ? std::span<const int32_t>(rows, size_t(n_rows)) : std::span<const int32_t>(), out);
}

void CudaBackend::logits_batch(const float* hidden, std::span<const LogitsQuery> queries, float* out) {
  bool all_selected = true;
  int n_hidden = 0;
  for (const LogitsQuery& q : queries) {
    all_selected = all_selected && q.rows;
    n_hidden = std::max(n_hidden, q.hidden_row + 1);
  }
  if (!all_selected || n_hidden > runner_->max_tokens()) {
    // One query at a time, as logits() does. Full-vocabulary rows (free decoding) must: cuBLAS
    // over several rows rounds differently from the one-row GEMV, and answers must not depend on
    // batching. More hidden rows than the runner's activation buffers hold is a corner case.
    LmBackend::logits_batch(hidden, queries, out);
    return;
  }
  pair_hidden_.clear();
  pair_vocab_.clear();
  for (const LogitsQuery& q : queries) {
    pair_hidden_.insert(pair_hidden_.end(), size_t(q.n_rows), q.hidden_row);
    pair_vocab_.insert(pair_vocab_.end(), q.rows, q.rows + q.n_rows);
  }
  runner_->logits_pairs(hidden, n_hidden, pair_hidden_, pair_vocab_, out);
}

}  // namespace si
