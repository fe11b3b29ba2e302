// tokenizer/tokenizer_impl.h — the tables behind si::Tokenizer (for tokenizer/ files only).
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

// Open-addressing table from raw bytes to token id; the keys are the tokens' own bytes, so a slot
// is 8 bytes (hash tag + id). Lookups on the hot path cost about one cache miss plus the compare.
class BytesToId {
 public:
  void build(const std::vector<std::string>& bytes, const std::vector<bool>& include) {
    size_t n = 0;
    for (bool b : include) n += b;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
    keys_ = &bytes;
    for (size_t id = 0; id < bytes.size(); ++id)
      if (include[id] && find(bytes[id]) < 0) insert(bytes[id], int32_t(id));  // first id wins
  }
  int32_t find(std::string_view key) const {
    const uint64_t h = StringHash{}(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.tag == uint32_t(h >> 32) && (*keys_)[size_t(s.id)] == key) return s.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag;
    int32_t id;
  };
  void insert(std::string_view key, int32_t id) {
    const uint64_t h = StringHash{}(key);
    size_t i = h & mask_;
    while (slots_[i].id >= 0) i = (i + 1) & mask_;
    slots_[i] = {uint32_t(h >> 32), id};
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  const std::vector<std::string>* keys_ = nullptr;
};

// Open-addressing table (left id, right id) -> (rank, merged id).
class MergeTable {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, Slot{kEmpty, {0, 0}});
    mask_ = cap - 1;
  }
  // A pair listed twice keeps its last rank, as HF builds its merge map.
  void set(int32_t a, int32_t b, Merge m) {
    const uint64_t key = pack(a, b);
    size_t i = slot_of(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
    slots_[i] = {key, m};
  }
  const Merge* find(int32_t a, int32_t b) const {
    const uint64_t key = pack(a, b);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are < 2^31, so no pair packs to this
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static uint64_t pack(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  size_t slot_of(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

struct Tokenizer::Impl {
  TokenizerSpec spec;
  std::vector<std::string> bytes;           // id -> raw bytes
  BytesToId bpe_by_bytes;                   // BPE vocabulary (no added tokens), by raw bytes
  StringMap<int32_t> by_piece;              // every token, by stored form
  MergeTable merges;
  int32_t byte_id[256] = {};                // the BPE token of each single byte
  std::vector<AddedToken> added;            // longest first
  bool added_first_byte[256] = {};          // some added token starts with this byte
  uint64_t uid = 0;                         // identifies this table for the per-thread cache

  const Merge* find_merge(int32_t a, int32_t b) const { return merges.find(a, b); }
};

}  // namespace si
