// train/batches.h — training examples and length-bucketed batches.
//
//   std::vector<si::train::Example> ex = ...;              // prompt ids + answer ids
//   auto order = si::train::epoch_batches(ex, 8, seed, epoch);  // same seed + epoch -> same batches
//   si::train::Batch b = si::train::make_batch(ex, order[0]);
//
// Batches group examples of similar length (less padding) yet stay random: each epoch shuffles all
// examples, sorts windows of 32 batches by length, cuts them into batches and shuffles the batches.
// The order is a pure function of (seed, epoch), so a checkpoint only records (epoch, batch index).
#pragma once

#include <cstdint>
#include <vector>

#include "train/llama_train.h"

namespace si::train {

struct Example {
  std::vector<int32_t> prompt;  // no loss here
  std::vector<int32_t> answer;  // loss on every token of it (include end-of-text)
  size_t size() const { return prompt.size() + answer.size(); }
};

std::vector<std::vector<int32_t>> epoch_batches(const std::vector<Example>& ex, int batch_size, uint64_t seed, int64_t epoch);

// ids = prompt + answer (right-padded with pad_id to the longest row); targets[t] = ids[t+1] where
// that next token belongs to the answer, else -1 (HF labels with -100 on the prompt, shifted).
// prompt_loss_weight > 0 also predicts the prompt's own tokens, with that weight (batch.weights; the
// loss stays normalised by the answer tokens), as OpenAI's fine-tuning `prompt_loss_weight` did.
Batch make_batch(const std::vector<Example>& ex, const std::vector<int32_t>& rows, int32_t pad_id = 0,
                 float prompt_loss_weight = 0);

}  // namespace si::train
