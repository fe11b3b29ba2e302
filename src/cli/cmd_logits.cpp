// shopintent logits --model M --ids FILE --out OUT.npy : float32 [T, vocab] logits of every position
// of one sequence (FILE: whitespace-separated token ids), written as a NumPy v1.0 file atomically.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "model/llama_runner.h"

namespace si::cli {
namespace {

std::vector<int32_t> read_ids(const std::string& path, int vocab) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open the token id file").at(path);
  std::vector<int32_t> ids;
  std::string line, word;
  for (uint64_t ln = 1; std::getline(in, line); ++ln) {
    std::istringstream ws(line);
    while (ws >> word) {
      size_t used = 0;
      long long v = -1;
      try { v = std::stoll(word, &used); } catch (...) { used = 0; }
      if (used != word.size()) throw Error(fmt::format("'{}' is not a token id", word)).at_line(path, ln);
      if (v < 0 || v >= vocab)
        throw Error(fmt::format("token id {} outside the model's vocabulary [0, {})", v, vocab)).at_line(path, ln);
      ids.push_back(int32_t(v));
    }
  }
  if (ids.empty()) throw Error("no token ids in the file").at(path);
  return ids;
}

// NumPy format v1.0: magic, version, u16 header length, a dict padded with spaces to 64 bytes.
void write_npy(const std::string& path, const float* data, int64_t rows, int64_t cols) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string pre = "\x93NUMPY";
  pre += char(1);
  pre += char(0);
  pre += char(header.size() & 0xff);
  pre += char(header.size() >> 8);
  AtomicFile out(path);
  out.write(pre);
  out.write(header);
  out.write(data, size_t(rows * cols) * sizeof(float));
  out.commit();
}

}  // namespace

void register_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Write the logits of every position of a token sequence (.npy)");
  struct Opts {
    std::string model, ids, out;
    int threads = 2;
    bool reference = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "HF directory or GGUF file")->required();
  cmd->add_option("--ids", o->ids, "file of whitespace-separated token ids")->required();
  cmd->add_option("--out", o->out, "output .npy (float32 [T, vocab])")->required();
  cmd->add_option("-t,--threads", o->threads, "threads");
  cmd->add_flag("--reference", o->reference, "use the fp32 reference ops (slow; for debugging)");
  cmd->callback([o] {
    const LlamaModel m = LlamaModel::load(o->model);
    const auto ids = read_ids(o->ids, m.config().vocab_size);
    LlamaRunner r(m, {.n_threads = o->threads, .n_slots = 1, .capacity = int(ids.size()), .reference = o->reference});
    const auto logits = r.eval(0, ids);
    write_npy(o->out, logits.data(), int64_t(ids.size()), m.config().vocab_size);
    fmt::print(stderr, "{}: {} positions x {} logits -> {}\n", m.source(), ids.size(), m.config().vocab_size, o->out);
  });
}

}  // namespace si::cli
