// train/trainer.h — the training loop: batches, gradient accumulation, clipping, AdamW with warm-up +
// cosine decay, evaluation and early stopping, progress, checkpoints and exact resume.
//
//   si::train::TrainConfig c; c.out_dir = "runs/r1"; c.lr = 2e-4; c.save_every = 50;
//   si::train::Trainer t(model, c, train_examples, valid_examples);
//   t.resume();                       // continues from runs/r1/checkpoints/latest when present
//   si::train::TrainResult r = t.run();
//
// Checkpoints are directories runs/r1/checkpoints/step-NNNNNNN/ (trainable.safetensors,
// optimizer.safetensors, state.json), written under a temporary name and renamed, then named in
// checkpoints/latest (replaced atomically). A run killed at any moment resumes from the last
// complete one and ends bitwise equal to an uninterrupted run: the batch order is a function of
// (seed, epoch), dropout masks of (seed, micro-step), and the optimiser state is saved exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/batches.h"
#include "train/llama_train.h"
#include "train/optim.h"

namespace si::train {

struct TrainConfig {
  std::string out_dir;             // checkpoints go to out_dir/checkpoints
  int batch_size = 8;
  int grad_accum = 1;              // micro-batches per optimiser step (their mean loss)
  int64_t epochs = 1;
  int64_t max_steps = 0;           // > 0: stop after this many optimiser steps (overrides epochs)
  double lr = 2e-4;
  int64_t warmup_steps = 0;
  AdamWConfig adam;
  double max_grad_norm = 1.0;      // 0 = no clipping
  float prompt_loss_weight = 0;    // > 0: also learn to predict the prompt, with this weight (training only;
                                   // valid loss stays on the answer tokens)
  int64_t eval_every = 0;          // optimiser steps between evaluations on valid (0 = only at the end)
  int early_stopping_patience = 0; // stop after this many evaluations without a better valid loss (0 = never)
  int64_t save_every = 0;          // optimiser steps between checkpoints (0 = only at the end)
  uint64_t seed = 42;
  int32_t pad_id = 0;
  bool quiet = false;
};

struct TrainResult {
  int64_t steps = 0;
  double last_loss = 0;            // mean loss of the last optimiser step
  double valid_loss = -1;          // last evaluation (-1 when there is no valid set)
  double best_valid_loss = -1;
  bool early_stopped = false;
  double tokens_per_s = 0;
};

class Trainer {
 public:
  Trainer(TrainModel<float>& m, const TrainConfig& c, const std::vector<Example>& train, const std::vector<Example>& valid);
  ~Trainer();

  bool resume();                               // true when a checkpoint was loaded
  TrainResult run(int64_t stop_after = -1);    // stop_after >= 0: return after that many steps (tests)
  double evaluate();                           // token-weighted mean loss on valid, dropout off
  void save_checkpoint();
  int64_t total_steps() const { return total_steps_; }
  int64_t step() const { return step_; }
  AdamW& optimizer() { return opt_; }

 private:
  const std::vector<int32_t>& next_rows();

  TrainModel<float>& m_;
  TrainConfig c_;
  const std::vector<Example>& train_;
  const std::vector<Example>& valid_;
  AdamW opt_;
  int64_t total_steps_ = 0;
  int64_t step_ = 0, micro_step_ = 0, epoch_ = 0, batch_index_ = 0;
  double best_valid_ = -1;
  int bad_evals_ = 0;
  std::vector<std::vector<int32_t>> order_;  // batches of epoch_
  int64_t order_epoch_ = -1;
};

}  // namespace si::train
