// Tokenizer::load: pick the reader from what the path is.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#ifdef SI_TOKENIZER_HAVE_GGUF
#include "formats/gguf.h"
#endif

namespace si {

Tokenizer Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) throw Error("no such file or directory").at(path).hint("pass a tokenizer.json, a model directory or a .gguf file");
  if (!fs::is_directory(path)) {
    char magic[4] = {};
    std::ifstream in(path, std::ios::binary);
    in.read(magic, 4);
    if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) {
#ifdef SI_TOKENIZER_HAVE_GGUF
      return from_gguf(GgufFile::open(path));
#else
      throw Error("GGUF support was not built into this binary").at(path);
#endif
    }
  }
  return from_hf_json(path);
}

}  // namespace si
