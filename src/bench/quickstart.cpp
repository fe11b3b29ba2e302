// bench/quickstart.cpp — see quickstart.h. Each stage calls the library the matching command uses.
#include "bench/quickstart.h"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mmap.h"
#include "core/system.h"
#include "core/thread_pool.h"
#include "data/generator.h"
#include "data/task_spec.h"
#include "formats/llama_config.h"
#include "intent/engine.h"
#include "intent/eval.h"
#include "intent/llama_backend.h"
#include "model/llama_model.h"
#include "quant/gguf_quantize.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"
#include "train/dataset.h"
#include "train/hf_io.h"
#include "train/trainer.h"

namespace si {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint32_t to_ppm(double frac, const char* what) {
  SI_CHECK(frac >= 0 && frac < 1, "quickstart: {} must be in [0, 1), got {}", what, frac);
  return uint32_t(frac * 1e6 + 0.5);
}

// Resets the process's peak-RSS mark (Linux >= 4.0: "5" > /proc/self/clear_refs) after giving freed
// heap back, so that each evaluation reports its own high-water mark, not training's. Returns false
// where the kernel refuses; the mark then stays the process's (results.json says which).
bool rss_reset() {
  malloc_trim(0);
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// Trains the BPE on exactly the texts the model reads: rendered prompt parts and canonical answers.
Tokenizer train_tokenizer(const std::string& train_jsonl, const TaskSpec& spec, int vocab_size, const std::string& out) {
  BpeTrainer trainer;
  for (const EvalRow& r : read_eval_rows(train_jsonl, spec, 0)) {
    trainer.add_text(render_prompt_prefix(spec, r.catalog));
    trainer.add_text(render_prompt_request(spec, r.request));
    trainer.add_text(canonical_answer(spec, r.output));
  }
  Tokenizer tok = trainer.train({.vocab_size = vocab_size});
  tok.save_hf_json(out);
  return tok;
}

// Trains a new model of preset `o.config` on data_dir/train.jsonl and writes it as an HF directory
// (F32 safetensors + tokenizer.json) to model_dir. Returns the trainer's summary as JSON.
json train_model(const QuickstartOptions& o, const TaskSpec& spec, const Tokenizer& tok, const std::string& tok_path,
                 const fs::path& data_dir, const fs::path& run_dir, const fs::path& model_dir, int threads) {
  LlamaConfig cfg = llama_config_preset(o.config);
  cfg.vocab_size = tok.vocab_size();  // our own model: its vocabulary is the tokenizer's
  cfg.bos_token_id = tok.bos_id();
  cfg.eos_token_id = tok.eos_id();
  const int max_len = int(cfg.max_position_embeddings);
  train::DatasetStats st;
  const auto train_ex = train::load_examples((data_dir / "train.jsonl").string(), tok, spec, max_len, &st);
  const auto valid_ex = train::load_examples((data_dir / "valid.jsonl").string(), tok, spec, max_len);
  SI_CHECK(!train_ex.empty(), "quickstart: {}: no usable training rows", (data_dir / "train.jsonl").string());

  ThreadPool pool(threads);
  train::ModelOptions mo;
  mo.method = train::Method::full;
  mo.fast = true;
  mo.pool = &pool;
  train::TrainModel<float> m(cfg, mo);
  m.init_random(o.seed);

  train::TrainConfig tc;
  tc.out_dir = run_dir.string();
  tc.batch_size = o.batch_size;
  tc.max_steps = o.max_steps;
  tc.lr = o.lr;
  tc.warmup_steps = o.warmup_steps;
  tc.adam.beta2 = o.adam_beta2;
  tc.prompt_loss_weight = o.prompt_loss_weight;
  tc.seed = o.seed;
  tc.pad_id = tok.eos_id() >= 0 ? tok.eos_id() : 0;
  tc.quiet = o.quiet;
  if (!o.quiet)
    fmt::print(stderr, "quickstart: training {} ({} parameters) on {} rows ({} answer tokens), {} steps of {} rows\n",
               o.config, m.trainable().numel(), train_ex.size(), st.answer_tokens, o.max_steps, o.batch_size);
  train::Trainer trainer(m, tc, train_ex, valid_ex);
  const train::TrainResult r = trainer.run();

  train::save_run_output(m, model_dir.string(), "config:" + o.config, {{"task", o.task}});
  write_file_atomic((model_dir / "tokenizer.json").string(), read_file(tok_path));
  return {{"steps", r.steps}, {"last_loss", r.last_loss}, {"valid_loss", r.valid_loss}, {"tokens_per_s", r.tokens_per_s},
          {"train_rows", train_ex.size()}, {"parameters", m.trainable().numel()}, {"peak_rss_bytes", peak_rss_bytes()}};
}

json eval_model(const QuickstartOptions& o, const TaskSpec& spec, const std::string& gguf, const std::string& split_path,
                int threads, bool* rss_is_own) {
  const LlamaModel model = LlamaModel::load(gguf);
  const Tokenizer tok = Tokenizer::load(gguf);  // the GGUF carries its tokenizer, as users will load it
  const auto rows = read_eval_rows(split_path, spec, o.eval_limit);
  IntentOptions eo;
  eo.max_batch = o.eval_batch;
  LlamaBackend backend(model, RunnerOptions{.n_threads = threads,
                                             .n_slots = eo.cache_slots + eo.max_batch,
                                             .capacity = int(model.config().max_position_embeddings)});
  IntentEngine engine(backend, tok, spec, eo);
  *rss_is_own = rss_reset();
  const EvalReport r = evaluate(engine, tok, spec, rows, backend.model_bytes(), /*charge_reference=*/false);
  json j = r.to_json();
  j["file_bytes"] = fs::file_size(gguf);
  return j;
}

}  // namespace

QuickstartResult run_quickstart(const QuickstartOptions& o) {
  const auto t0 = Clock::now();
  SI_CHECK(!o.out_dir.empty(), "quickstart: --out must name a directory");
  SI_CHECK(o.n > 0 && o.batch_size > 0 && o.max_steps > 0, "quickstart: n, batch and steps must be positive");
  const fs::path out(o.out_dir);
  const fs::path data_dir = out / "data", run_dir = out / "train", model_dir = out / "model";
  fs::create_directories(out);
  const int threads = o.threads > 0 ? o.threads : ThreadPool::default_threads();
  const TaskSpec spec = load_task_spec(o.task);
  auto say = [&](const std::string& s) {
    if (!o.quiet) fmt::print(stderr, "quickstart: {}\n", s);
  };
  json stages;
  auto stage_done = [&](const char* name, Clock::time_point t) {
    stages[name] = since(t);
    say(fmt::format("{} done in {:.1f} s ({:.1f} s so far)", name, stages[name].get<double>(), since(t0)));
  };

  // 1. Data.
  auto t = Clock::now();
  say(fmt::format("[1/5] datagen: task {}, {} rows, languages {}", o.task, o.n, fmt::join(o.langs, ",")));
  GenOptions g;
  g.task = o.task;
  g.langs = o.langs;
  g.n = o.n;
  g.seed = o.seed;
  g.catalog_min = o.catalog_min;
  g.catalog_max = o.catalog_max;
  g.out_dir = data_dir.string();
  g.valid_ppm = to_ppm(o.valid_frac, "valid fraction");
  g.test_ppm = to_ppm(o.test_frac, "test fraction");
  g.heldout_ppm = to_ppm(o.heldout_frac, "held-out fraction");
  g.quiet = o.quiet;
  const GenSummary gs = generate_dataset(g);
  SI_CHECK(gs.test > 0 && gs.heldout > 0 && gs.train > 0, "quickstart: datagen made {} train, {} test, {} test_heldout rows; "
           "raise --n", gs.train, gs.test, gs.heldout);
  stage_done("datagen", t);

  // 2. Tokenizer.
  t = Clock::now();
  say(fmt::format("[2/5] tokenizer-train: byte-level BPE, vocabulary {}", o.vocab_size));
  const std::string tok_path = (data_dir / "tokenizer.json").string();
  const Tokenizer tok = train_tokenizer((data_dir / "train.jsonl").string(), spec, o.vocab_size, tok_path);
  stage_done("tokenizer", t);

  // 3. Training. The run directory is scratch: a fresh run every time (no stale checkpoint resumed).
  t = Clock::now();
  say(fmt::format("[3/5] train: preset {}, full fine-tuning from random weights, {} threads", o.config, threads));
  fs::remove_all(run_dir);
  json train_info = train_model(o, spec, tok, tok_path, data_dir, run_dir, model_dir, threads);
  stage_done("train", t);

  // 4. Quantization.
  t = Clock::now();
  std::vector<std::string> files;
  for (const std::string& type : o.quant_types) {
    const std::string file = fmt::format("model-{}.gguf", type);
    say(fmt::format("[4/5] quantize: {} -> {}", model_dir.string(), file));
    GgufQuantizeOptions q;
    q.model = model_dir.string();
    q.to = type;
    q.out = (out / file).string();
    q.name = "shopintent-quickstart-" + o.config;
    q.threads = threads;
    q.quiet = o.quiet;
    gguf_quantize(q);
    files.push_back(file);
  }
  stage_done("quantize", t);

  // 5. Evaluation: every file on both test splits.
  t = Clock::now();
  json models = json::object();
  bool rss_is_own = true;
  for (const std::string& file : files) {
    for (const char* split : {"test", "test_heldout"}) {
      say(fmt::format("[5/5] eval: {} on {}", file, split));
      bool own = false;
      models[file][split] = eval_model(o, spec, (out / file).string(), (data_dir / (std::string(split) + ".jsonl")).string(),
                                       threads, &own);
      rss_is_own = rss_is_own && own;
    }
  }
  stage_done("eval", t);

  QuickstartResult res;
  res.seconds = since(t0);
  res.results = {
      {"models", models},
      {"train", train_info},
      {"settings",
       {{"task", o.task}, {"langs", o.langs}, {"n", o.n}, {"catalog_size", {o.catalog_min, o.catalog_max}}, {"seed", o.seed}, {"vocab_size", tok.vocab_size()},
        {"config", o.config}, {"batch_size", o.batch_size}, {"max_steps", o.max_steps}, {"lr", o.lr},
        {"warmup_steps", o.warmup_steps},
        {"adam_beta2", o.adam_beta2}, {"prompt_loss_weight", o.prompt_loss_weight}, {"threads", threads}, {"eval_batch", o.eval_batch}, {"decode", "constrained"}}},
      {"data", {{"train", gs.train}, {"valid", gs.valid}, {"test", gs.test}, {"test_heldout", gs.heldout}}},
      {"peak_rss_per_eval", rss_is_own},
      {"stages_s", stages},
      {"total_s", res.seconds},
  };
  write_file_atomic((out / "results.json").string(), res.results.dump(2) + "\n");
  return res;
}

std::string quickstart_table(const json& results) {
  std::string s = fmt::format("{:<20} {:<13} {:>8} {:>11} {:>10} {:>12}\n", "model file", "split", "exact %", "requests/s",
                              "model MiB", "peak RSS MiB");
  for (const auto& [file, splits] : results.at("models").items())
    for (const auto& [split, r] : splits.items())
      s += fmt::format("{:<20} {:<13} {:>8.2f} {:>11.1f} {:>10.2f} {:>12.1f}\n", file, split,
                       100.0 * r.at("exact_match").get<double>(), r.at("requests_per_s").get<double>(),
                       r.at("model_bytes").get<double>() / 1048576.0, r.at("peak_rss_bytes").get<double>() / 1048576.0);
  return s;
}

}  // namespace si
