#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mmap.h"
#include "core/progress.h"
#include "formats/safetensors.h"
#include "train/hf_io.h"

namespace si::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

Trainer::Trainer(TrainModel<float>& m, const TrainConfig& c, const std::vector<Example>& train, const std::vector<Example>& valid)
    : m_(m), c_(c), train_(train), valid_(valid), opt_(m.trainable().numel(), c.adam) {
  SI_CHECK(!train_.empty(), "no training examples");
  m_.keep_all_logits(false);  // the loss needs the head on the answer rows alone
  SI_CHECK(c_.batch_size > 0 && c_.grad_accum > 0, "batch size {} and gradient accumulation {} must be positive", c_.batch_size,
           c_.grad_accum);
  const int64_t n_batches = (int64_t(train_.size()) + c_.batch_size - 1) / c_.batch_size;
  total_steps_ = c_.max_steps > 0 ? c_.max_steps : c_.epochs * ((n_batches + c_.grad_accum - 1) / c_.grad_accum);
  SI_CHECK(total_steps_ > 0, "nothing to train: {} epochs of {} batches", c_.epochs, n_batches);
}

Trainer::~Trainer() = default;

const std::vector<int32_t>& Trainer::next_rows() {
  if (order_epoch_ != epoch_) {
    order_ = epoch_batches(train_, c_.batch_size, c_.seed, epoch_);
    order_epoch_ = epoch_;
  }
  if (batch_index_ >= int64_t(order_.size())) {
    epoch_++;
    batch_index_ = 0;
    return next_rows();
  }
  return order_[size_t(batch_index_++)];
}

double Trainer::evaluate() {
  if (valid_.empty()) return -1;
  m_.set_training(false);
  // Fixed batches in length order: deterministic and little padding.
  std::vector<int32_t> idx(valid_.size());
  for (size_t i = 0; i < idx.size(); i++) idx[i] = int32_t(i);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return valid_[size_t(a)].size() < valid_[size_t(b)].size(); });
  double total = 0;
  int64_t tokens = 0;
  for (size_t i = 0; i < idx.size(); i += size_t(c_.batch_size)) {
    const std::vector<int32_t> rows(idx.begin() + ptrdiff_t(i), idx.begin() + ptrdiff_t(std::min(idx.size(), i + size_t(c_.batch_size))));
    const double loss = m_.forward(make_batch(valid_, rows, c_.pad_id));
    total += loss * double(m_.n_loss_tokens());
    tokens += m_.n_loss_tokens();
  }
  m_.set_training(true);
  return tokens ? total / double(tokens) : -1;
}

TrainResult Trainer::run(int64_t stop_after) {
  TrainResult res;
  Progress progress("train", total_steps_, "steps", c_.quiet);
  progress.set(step_);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  int64_t steps_here = 0;
  auto& params = m_.trainable().data;
  auto& grads = m_.grads();
  while (step_ < total_steps_) {
    if (stop_after >= 0 && steps_here >= stop_after) return res;
    m_.zero_grad();
    double loss_sum = 0;
    for (int a = 0; a < c_.grad_accum; a++) {
      const std::vector<int32_t>& rows = next_rows();
      for (int32_t r : rows) tokens_seen += int64_t(train_[size_t(r)].size());  // real tokens, not padding
      const Batch b = make_batch(train_, rows, c_.pad_id, c_.prompt_loss_weight);
      m_.set_dropout_step(c_.seed, uint64_t(micro_step_++));
      loss_sum += m_.forward(b);
      m_.backward(1.0 / c_.grad_accum);  // mean over micro-batches, as transformers' Trainer
    }
    clip_grad_norm(grads, m_.trainable().entries, c_.max_grad_norm);
    const double lr = cosine_with_warmup(c_.lr, step_, c_.warmup_steps, total_steps_);
    opt_.step(params.data(), grads.data(), lr, m_.options().pool);
    step_++;
    steps_here++;
    res.last_loss = loss_sum / c_.grad_accum;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.tokens_per_s = secs > 0 ? double(tokens_seen) / secs : 0;
    progress.advance(1, fmt::format("loss {:.4f} lr {:.3g} {:.0f} tok/s", res.last_loss, lr, res.tokens_per_s));
    const bool last = step_ == total_steps_;
    if ((c_.eval_every > 0 && step_ % c_.eval_every == 0) || last) {
      res.valid_loss = evaluate();
      if (res.valid_loss >= 0) {
        if (best_valid_ < 0 || res.valid_loss < best_valid_) {
          best_valid_ = res.valid_loss;
          bad_evals_ = 0;
        } else {
          bad_evals_++;
        }
        if (!c_.quiet) fmt::print(stderr, "train: step {} valid loss {:.4f} (best {:.4f})\n", step_, res.valid_loss, best_valid_);
        if (c_.early_stopping_patience > 0 && bad_evals_ >= c_.early_stopping_patience && !last) {
          if (!c_.quiet) fmt::print(stderr, "train: early stop, no better valid loss in {} evaluations\n", bad_evals_);
          res.early_stopped = true;
          total_steps_ = step_;  // recorded in the checkpoint: a resumed run stops too
        }
      }
    }
    if ((c_.save_every > 0 && step_ % c_.save_every == 0) || step_ == total_steps_) save_checkpoint();
  }
  progress.finish(fmt::format("loss {:.4f}", res.last_loss));
  res.steps = step_;
  res.best_valid_loss = best_valid_;
  return res;
}

void Trainer::save_checkpoint() {
  SI_CHECK(!c_.out_dir.empty(), "no output directory for checkpoints");
  const fs::path root = fs::path(c_.out_dir) / "checkpoints";
  fs::create_directories(root);
  const std::string name = fmt::format("step-{:07d}", step_);
  const fs::path tmp = root / fmt::format(".tmp-{}-{}", name, ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const auto& tr = m_.trainable();
  {
    SafetensorsWriter w;
    for (size_t i = 0; i < tr.entries.size(); i++) w.add(tr.entries[i].name, DType::F32, tr.entries[i].shape, tr.ptr(int(i)));
    w.write((tmp / "trainable.safetensors").string());
  }
  {
    SafetensorsWriter w;
    for (const auto& e : tr.entries) {
      w.add("exp_avg." + e.name, DType::F32, e.shape, opt_.exp_avg().data() + e.offset);
      w.add("exp_avg_sq." + e.name, DType::F32, e.shape, opt_.exp_avg_sq().data() + e.offset);
    }
    w.write((tmp / "optimizer.safetensors").string());
  }
  const json state = {{"step", step_},           {"micro_step", micro_step_}, {"epoch", epoch_},
                      {"batch_index", batch_index_}, {"adam_steps", opt_.steps()}, {"best_valid", best_valid_},
                      {"bad_evals", bad_evals_},   {"total_steps", total_steps_}, {"seed", c_.seed},
                      {"method", method_name(m_.options().method)}, {"n_trainable", tr.numel()}};
  write_file_atomic((tmp / "state.json").string(), state.dump(2) + "\n");
  const fs::path final_dir = root / name;
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  write_file_atomic((root / "latest").string(), name + "\n");
  for (const auto& d : fs::directory_iterator(root))  // keep only the latest complete checkpoint
    if (d.is_directory() && d.path().filename() != name) fs::remove_all(d.path());
}

bool Trainer::resume() {
  const fs::path root = fs::path(c_.out_dir) / "checkpoints";
  if (!fs::exists(root / "latest")) return false;
  std::string name = read_file((root / "latest").string());
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  const fs::path dir = root / name;
  const std::string state_path = (dir / "state.json").string();
  json s;
  try {
    s = json::parse(read_file(state_path));
  } catch (const json::exception& e) {
    throw Error(fmt::format("invalid checkpoint state: {}", e.what())).at(state_path);
  }
  auto& tr = m_.trainable();
  if (s.value("method", "") != method_name(m_.options().method) || s.value("n_trainable", int64_t(-1)) != tr.numel() ||
      s.value("seed", uint64_t(0)) != c_.seed)
    throw Error(fmt::format("checkpoint is for method {} with {} trainable values and seed {}; this run has {}, {}, {}",
                            s.value("method", "?"), s.value("n_trainable", int64_t(-1)), s.value("seed", uint64_t(0)),
                            method_name(m_.options().method), tr.numel(), c_.seed))
        .at(state_path)
        .hint("resume with the same --method, LoRA settings and --seed, or use a new --out");
  const SafetensorsFile p = SafetensorsFile::open((dir / "trainable.safetensors").string());
  const SafetensorsFile o = SafetensorsFile::open((dir / "optimizer.safetensors").string());
  for (size_t i = 0; i < tr.entries.size(); i++) {
    const auto& e = tr.entries[i];
    auto load = [&](const SafetensorsFile& f, const std::string& key, float* dst) {
      const SafetensorsTensor& t = f.get(key);
      if (t.dtype != DType::F32 || t.shape != e.shape)
        throw Error(fmt::format("{} is {} {}, expected F32 {}", key, dtype_name(t.dtype), shape_str(t.shape), shape_str(e.shape))).at(f.path());
      std::memcpy(dst, t.view.data, size_t(e.numel) * 4);
    };
    load(p, e.name, tr.ptr(int(i)));
    load(o, "exp_avg." + e.name, opt_.exp_avg().data() + e.offset);
    load(o, "exp_avg_sq." + e.name, opt_.exp_avg_sq().data() + e.offset);
  }
  step_ = s.at("step").get<int64_t>();
  micro_step_ = s.at("micro_step").get<int64_t>();
  epoch_ = s.at("epoch").get<int64_t>();
  batch_index_ = s.at("batch_index").get<int64_t>();
  opt_.set_steps(s.at("adam_steps").get<int64_t>());
  best_valid_ = s.at("best_valid").get<double>();
  bad_evals_ = s.at("bad_evals").get<int>();
  total_steps_ = s.at("total_steps").get<int64_t>();
  if (!c_.quiet) fmt::print(stderr, "train: resumed from {} (step {} of {})\n", dir.string(), step_, total_steps_);
  return true;
}

}  // namespace si::train
