// shopintent tokenize --model M --in FILE [--ids|--pieces] [--special] [--bos]
//
// One output line per input line (split at '\n'; a '\r' before it is kept as text): the token ids
// separated by spaces (default), or the tokens in their stored form ("Ġhello"). M is a
// tokenizer.json, a model directory holding one, or a GGUF file. `--in -` reads stdin.
#include <cstdio>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/mmap.h"
#include "tokenizer/tokenizer.h"

namespace si::cli {

void register_tokenize(CLI::App& app) {
  struct Options {
    std::string model, in;
    bool ids = false, pieces = false, special = false, bos = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("tokenize", "Tokenize a text file, one line of ids (or pieces) per input line");
  cmd->add_option("--model,-m", opt->model, "tokenizer.json, model directory or .gguf file")->required();
  cmd->add_option("--in,-i", opt->in, "input text file ('-' for stdin)")->required();
  auto* ids = cmd->add_flag("--ids", opt->ids, "print token ids (default)");
  cmd->add_flag("--pieces", opt->pieces, "print tokens in their stored form instead of ids")->excludes(ids);
  cmd->add_flag("--special", opt->special, "parse special tokens written in the text (<|eot_id|>)");
  cmd->add_flag("--bos", opt->bos, "start every line with the bos token");
  cmd->callback([opt] {
    const Tokenizer tok = Tokenizer::load(opt->model);
    if (opt->bos && tok.bos_id() < 0) throw Error("--bos: this tokenizer has no bos token").at(opt->model);
    std::string text;
    if (opt->in == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      text = read_file(opt->in);
    }
    std::vector<int32_t> out_ids;
    fmt::memory_buffer out;
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      out_ids.clear();
      if (opt->bos) out_ids.push_back(tok.bos_id());
      tok.encode(std::string_view(text).substr(start, nl - start), opt->special, out_ids);
      for (size_t k = 0; k < out_ids.size(); ++k) {
        if (k) out.push_back(' ');
        if (opt->pieces) {
          const std::string& p = tok.piece(out_ids[k]);
          out.append(p.data(), p.data() + p.size());
        } else {
          fmt::format_to(std::back_inserter(out), "{}", out_ids[k]);
        }
      }
      out.push_back('\n');
      if (out.size() > (1 << 20)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
      start = nl + 1;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  });
}

}  // namespace si::cli
