// shopintent perf --model M -p 64 -n 16 -t 2 [-r 3] [--json] : raw prompt-processing and generation
// speed, measured the way llama-bench does: random token ids, one warm-up run, then r repetitions
// on an empty cache; pp = p tokens in one batch (logits of the last), tg = n single-token decodes
// (full logits each). Prints mean ± stddev tokens/s, weight bytes, KV bytes and peak RSS.
//
// --random llama-3.2-1b --type Q4_K_M benchmarks random weights of that architecture: the GGUF is
// written once to --cache-dir (default /tmp) and then mmapped like any model file.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/system.h"
#include "model/llama_runner.h"
#include "model/random_model.h"
#include "ops/cpu/isa.h"

namespace si::cli {
namespace {

struct Stat {
  double mean = 0, sd = 0;
};

Stat stat(const std::vector<double>& v) {
  Stat s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
  return s;
}

}  // namespace

void register_perf(CLI::App& app) {
  auto* cmd = app.add_subcommand("perf", "Prompt-processing and generation tokens/s (like llama-bench)");
  struct Opts {
    std::string model, random, type = "Q4_K_M", cache_dir = "/tmp";
    int p = 64, n = 16, threads = 2, reps = 3;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "HF directory or GGUF file");
  cmd->add_option("--random", o->random, "benchmark random weights of a preset (llama-3.2-1b, tiny, small)");
  cmd->add_option("--type", o->type, "type of the random model: F16 BF16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K ...");
  cmd->add_option("--cache-dir", o->cache_dir, "where random GGUFs are kept");
  cmd->add_option("-p", o->p, "prompt tokens (0: skip pp)");
  cmd->add_option("-n", o->n, "generated tokens (0: skip tg)");
  cmd->add_option("-t,--threads", o->threads, "threads");
  cmd->add_option("-r,--reps", o->reps, "repetitions");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] {
    using Clock = std::chrono::steady_clock;
    SI_CHECK(!o->model.empty() != !o->random.empty(), "perf: give exactly one of --model and --random");
    SI_CHECK(o->p >= 0 && o->n >= 0 && o->reps >= 1 && o->threads >= 1, "perf: -p, -n >= 0, -r, -t >= 1 required");
    std::string path = o->model;
    if (!o->random.empty()) {
      path = fmt::format("{}/shopintent-random-{}-{}.gguf", o->cache_dir, o->random, o->type);
      if (!std::filesystem::exists(path)) {
        fmt::print(stderr, "perf: writing random {} {} weights to {} (once)\n", o->random, o->type, path);
        ThreadPool pool(o->threads);
        write_random_gguf(llama_config_preset(o->random), o->type, 1, path, &pool);
      }
    }
    const LlamaModel m = LlamaModel::load(path);
    const int V = m.config().vocab_size;
    LlamaRunner r(m, {.n_threads = o->threads, .n_slots = 1, .capacity = o->p + o->n + 1});
    std::mt19937 rng(42);
    auto rand_ids = [&](int n) {
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (auto& id : ids) id = int32_t(rng() % uint32_t(V));
      return ids;
    };
    std::vector<float> hidden(static_cast<size_t>(m.config().hidden_size)), logits(static_cast<size_t>(V));
    auto run_pp = [&] {
      const auto ids = rand_ids(o->p);
      r.cache().clear(0);
      const auto t0 = Clock::now();
      LlamaRunner::Append a{0, ids.data(), o->p};
      r.append({&a, 1}, hidden.data());
      r.logits(hidden.data(), 1, {}, logits.data());
      return double(o->p) / std::chrono::duration<double>(Clock::now() - t0).count();
    };
    auto run_tg = [&](int n) {
      r.cache().clear(0);
      const auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) {
        const int32_t id = int32_t(rng() % uint32_t(V));
        LlamaRunner::Append a{0, &id, 1};
        r.append({&a, 1}, hidden.data());
        r.logits(hidden.data(), 1, {}, logits.data());
      }
      return double(n) / std::chrono::duration<double>(Clock::now() - t0).count();
    };
    std::vector<double> pp, tg;
    if (o->p > 0) {
      run_pp();  // warm-up
      for (int i = 0; i < o->reps; ++i) pp.push_back(run_pp());
    }
    if (o->n > 0) {
      run_tg(1);  // warm-up
      for (int i = 0; i < o->reps; ++i) tg.push_back(run_tg(o->n));
    }
    const double mib = 1048576.0;
    const uint64_t wbytes = m.weight_bytes();
    nlohmann::json j = {{"model", path}, {"threads", o->threads}, {"isa", cpu::isa_name(cpu::isa_active())},
                        {"weight_bytes", wbytes}, {"kv_bytes", r.cache().bytes()},
                        {"activation_bytes", r.activation_bytes()}, {"peak_rss_bytes", peak_rss_bytes()},
                        {"file_bytes", std::filesystem::is_regular_file(path) ? std::filesystem::file_size(path) : 0}};
    if (!pp.empty()) j["pp"] = {{"n", o->p}, {"tok_s", stat(pp).mean}, {"sd", stat(pp).sd}, {"runs", pp}};
    if (!tg.empty()) j["tg"] = {{"n", o->n}, {"tok_s", stat(tg).mean}, {"sd", stat(tg).sd}, {"runs", tg},
                                {"weight_gb_s", stat(tg).mean * double(wbytes) / 1e9}};
    if (o->json) {
      fmt::print("{}\n", j.dump());
      return;
    }
    fmt::print("{}\n{}, {} threads, {}\n", path, m.describe(), o->threads, cpu::isa_name(cpu::isa_active()));
    if (!pp.empty()) fmt::print("pp{:<4} {:8.2f} ± {:.2f} tok/s\n", o->p, stat(pp).mean, stat(pp).sd);
    if (!tg.empty())
      fmt::print("tg{:<4} {:8.2f} ± {:.2f} tok/s   ({:.1f} GB/s of weights)\n", o->n, stat(tg).mean, stat(tg).sd,
                 stat(tg).mean * double(wbytes) / 1e9);
    fmt::print("weights {:.1f} MiB, KV cache {:.1f} MiB, activations {:.1f} MiB, peak RSS {:.1f} MiB\n",
               double(wbytes) / mib, double(r.cache().bytes()) / mib, double(r.activation_bytes()) / mib,
               double(peak_rss_bytes()) / mib);
  });
}

}  // namespace si::cli
