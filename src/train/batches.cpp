#include "train/batches.h"

#include <algorithm>

#include "core/error.h"
#include "train/rng.h"

namespace si::train {

template <typename V> static void shuffle(V& v, Rng& r) {  // Fisher-Yates with our own Rng: portable order
  for (size_t i = v.size(); i > 1; i--) std::swap(v[i - 1], v[size_t(r.below(i))]);
}

std::vector<std::vector<int32_t>> epoch_batches(const std::vector<Example>& ex, int batch_size, uint64_t seed, int64_t epoch) {
  SI_CHECK(batch_size > 0, "batch size must be positive, got {}", batch_size);
  Rng r(mix64(seed ^ mix64(uint64_t(epoch) + 0x5eed)));
  std::vector<int32_t> idx(ex.size());
  for (size_t i = 0; i < idx.size(); i++) idx[i] = int32_t(i);
  shuffle(idx, r);
  std::vector<std::vector<int32_t>> batches;
  const size_t window = size_t(batch_size) * 32;
  for (size_t w = 0; w < idx.size(); w += window) {
    const auto begin = idx.begin() + ptrdiff_t(w), end = idx.begin() + ptrdiff_t(std::min(idx.size(), w + window));
    std::stable_sort(begin, end, [&](int32_t a, int32_t b) { return ex[size_t(a)].size() < ex[size_t(b)].size(); });
    for (auto it = begin; it < end; it += std::min<ptrdiff_t>(batch_size, end - it)) batches.emplace_back(it, std::min(it + batch_size, end));
  }
  shuffle(batches, r);
  return batches;
}

Batch make_batch(const std::vector<Example>& ex, const std::vector<int32_t>& rows, int32_t pad_id, float prompt_loss_weight) {
  SI_CHECK(prompt_loss_weight >= 0 && prompt_loss_weight <= 1, "prompt loss weight must be in [0, 1], got {}",
           prompt_loss_weight);
  Batch b;
  b.B = int(rows.size());
  for (int32_t r : rows) b.T = std::max(b.T, int(ex[size_t(r)].size()));
  b.ids.assign(size_t(b.B) * size_t(b.T), pad_id);
  b.targets.assign(b.ids.size(), -1);
  for (int i = 0; i < b.B; i++) {
    const Example& e = ex[size_t(rows[size_t(i)])];
    const int P = int(e.prompt.size()), L = int(e.size());
    for (int t = 0; t < L; t++) b.ids[size_t(i * b.T + t)] = t < P ? e.prompt[size_t(t)] : e.answer[size_t(t - P)];
    for (int t = std::max(0, P - 1); t + 1 < L; t++) b.targets[size_t(i * b.T + t)] = b.ids[size_t(i * b.T + t + 1)];
    b.n_answer += std::max(0, L - std::max(1, P));
  }
  if (prompt_loss_weight > 0) {
    b.weights.assign(b.ids.size(), 0.0f);
    for (int i = 0; i < b.B; i++) {
      const Example& e = ex[size_t(rows[size_t(i)])];
      const int P = int(e.prompt.size()), L = int(e.size());
      for (int t = 0; t + 1 < L; t++) {
        b.targets[size_t(i * b.T + t)] = b.ids[size_t(i * b.T + t + 1)];
        b.weights[size_t(i * b.T + t)] = t + 1 < P ? prompt_loss_weight : 1.0f;
      }
    }
  }
  return b;
}

}  // namespace si::train
