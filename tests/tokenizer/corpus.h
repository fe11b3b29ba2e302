// tests/tokenizer/corpus.h — reading the parity corpus and its golden id files.
//
// tests/golden/tokenizer/corpus.txt holds one sample per line ('\n' only; U+2028 and '\r' are not
// line breaks). Samples may hold literal tabs. A backslash escapes: "\n" -> LF, "\r" -> CR,
// "\\" -> one backslash; any other backslash stands for itself. tools/golden/tokenizer_ids.py and
// tools/tokenizer_npm_check.js decode it the same way.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/mmap.h"

namespace si::test {

inline std::string decode_corpus_line(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      const char n = line[i + 1];
      if (n == 'n' || n == 'r' || n == '\\') {
        out += n == 'n' ? '\n' : n == 'r' ? '\r' : '\\';
        ++i;
        continue;
      }
    }
    out += line[i];
  }
  return out;
}

// Lines split at '\n' only; a final '\n' does not start an empty line.
inline std::vector<std::string> read_lines(const std::string& path) {
  const std::string all = read_file(path);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < all.size()) {
    size_t nl = all.find('\n', start);
    if (nl == std::string::npos) nl = all.size();
    lines.push_back(all.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

inline std::vector<std::string> read_corpus(const std::string& path) {
  std::vector<std::string> samples;
  for (const std::string& line : read_lines(path)) samples.push_back(decode_corpus_line(line));
  return samples;
}

inline std::vector<int32_t> parse_ids(const std::string& line) {
  std::vector<int32_t> ids;
  std::istringstream in(line);
  int32_t id;
  while (in >> id) ids.push_back(id);
  return ids;
}

}  // namespace si::test
