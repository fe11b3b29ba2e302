#include "intent/llama_backend.h"

#include <vector>

namespace si {

void LlamaBackend::forward(std::span<const Append> batch, float* hidden) {
  std::vector<LlamaRunner::Append> b(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) b[i] = {batch[i].slot, batch[i].tokens, batch[i].n_tokens};
  runner_.append(b, hidden);
}

void LlamaBackend::logits(const float* hidden, const int32_t* rows, int n_rows, float* out) {
  runner_.logits(hidden, 1, rows ? std::span<const int32_t>(rows, size_t(n_rows)) : std::span<const int32_t>(), out);
}

}  // namespace si
