// intent/prefix_cache.h — KV caches of prompt prefixes (a shop's catalog), computed once and reused.
//
//   PrefixCache cache(n_cache_slots);
//   int slot = cache.find(tokens);           // -1 on a miss
//   int slot = cache.insert(tokens);         // a slot to fill (evicts the least recently used)
//
// Keyed by the exact prefix token ids (a 64-bit hash picks the bucket; ids are compared in full, so a
// hash collision cannot return a wrong cache). The byte budget is expressed by the caller as a
// number of backend slots.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace si {

class PrefixCache {
 public:
  // Cache entries live in backend slots [first_slot, first_slot + n_slots).
  PrefixCache(int first_slot, int n_slots);

  int find(const std::vector<int32_t>& tokens);  // marks the entry used, counts a hit or miss; -1 if absent
  int slot_of(const std::vector<int32_t>& tokens) const;  // the same lookup, without touching LRU order or counts
  // Returns the slot to fill with these tokens, evicting the least recently used unpinned entry;
  // -1 when every entry is pinned (the caller then goes without the cache for this prefix).
  int insert(const std::vector<int32_t>& tokens);
  void pin(int slot, bool pinned);                  // a pinned entry is not evicted (in use by a batch)
  int n_entries() const { return int(lru_.size()); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    int slot;
    bool pinned = false;
  };
  static uint64_t hash(const std::vector<int32_t>& tokens);
  using Index = std::unordered_multimap<uint64_t, std::list<Entry>::iterator>;
  Index::const_iterator locate(const std::vector<int32_t>& tokens) const;  // index_.end() if absent

  std::list<Entry> lru_;  // front = most recently used
  Index index_;
  std::vector<int> free_slots_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace si
