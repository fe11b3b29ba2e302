// tokenizer/tokenizer_impl.h — the tables behind si::Tokenizer (private to tokenizer/).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace si {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept {
    // FNV-1a over 8-byte words: pieces are short, this beats std::hash on them.
    uint64_t h = 0xcbf29ce484222325ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
      h ^= h >> 29;
    }
    for (; i < s.size(); ++i) h = (h ^ uint8_t(s[i])) * 0x100000001b3ull;
    return size_t(h ^ (h >> 32));
  }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Merge {
  int32_t rank;
  int32_t id;  // the merged token
};

struct AddedToken {
  std::string text;
  int32_t id;
  bool special;
};

struct Tokenizer::Impl {
  TokenizerSpec spec;
  std::vector<std::string> bytes;           // id -> raw bytes
  StringMap<int32_t> bpe_by_bytes;          // BPE vocabulary (no added tokens), by raw bytes
  StringMap<int32_t> by_piece;              // every token, by stored form
  std::unordered_map<uint64_t, Merge> merges;  // (left id << 32 | right id) -> rank, result
  int32_t byte_id[256] = {};                // the BPE token of each single byte
  std::vector<AddedToken> added;            // longest first
  bool added_first_byte[256] = {};          // some added token starts with this byte
  uint64_t uid = 0;                         // identifies this table for the per-thread cache

  const Merge* find_merge(int32_t a, int32_t b) const {
    auto it = merges.find((uint64_t(uint32_t(a)) << 32) | uint32_t(b));
    return it == merges.end() ? nullptr : &it->second;
  }
};

}  // namespace si
