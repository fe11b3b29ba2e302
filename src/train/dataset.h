// train/dataset.h — training examples from datagen's JSONL splits, tokenized exactly as inference
// tokenizes them (intent/prompt.h): prompt = bos + prefix + request, answer = canonical answer + eos.
//
//   si::train::DatasetStats st;
//   auto ex = si::train::load_examples("data/train.jsonl", tok, spec, /*max_len=*/512, &st);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/batches.h"

namespace si {
class Tokenizer;
struct TaskSpec;
}

namespace si::train {

struct DatasetStats {
  int64_t rows = 0;
  int64_t skipped_too_long = 0;  // rows longer than max_len tokens (left out, counted)
  int64_t answer_tokens = 0;
  int64_t max_len = 0;
};

// Rows {"catalog": [...], "request": "...", "output": {...}}; a malformed row is an error naming the
// file and line. max_len 0 = no limit.
std::vector<Example> load_examples(const std::string& jsonl, const Tokenizer& tok, const TaskSpec& spec, int max_len,
                                   DatasetStats* stats = nullptr);

}  // namespace si::train
