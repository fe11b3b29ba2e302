// cli/commands.h — every subcommand of the shopintent binary registers itself here.
//
// A command file defines `void register_<name>(CLI::App& app)`, which adds a subcommand and its
// callback. Callbacks throw si::Error on bad input; main() prints it as one line and exits 1.
#pragma once

#include <CLI/CLI.hpp>

namespace si::cli {

void register_version(CLI::App& app);
void register_quantize(CLI::App& app);
void register_logits(CLI::App& app);
void register_generate(CLI::App& app);
void register_perf(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_tokenizer_train(CLI::App& app);
void register_inspect(CLI::App& app);
void register_datagen(CLI::App& app);
void register_data(CLI::App& app);
void register_train(CLI::App& app);
void register_merge(CLI::App& app);
void register_classify(CLI::App& app);
void register_eval(CLI::App& app);
void register_quickstart(CLI::App& app);
void register_random_model(CLI::App& app);

inline void register_all(CLI::App& app) {
  register_version(app);
  register_quantize(app);
  register_logits(app);
  register_generate(app);
  register_perf(app);
  register_tokenize(app);
  register_tokenizer_train(app);
  register_inspect(app);
  register_datagen(app);
  register_data(app);
  register_train(app);
  register_merge(app);
  register_classify(app);
  register_eval(app);
  register_quickstart(app);
  register_random_model(app);
}

}  // namespace si::cli
