#include "intent/prefix_cache.h"

#include "core/error.h"

namespace si {

PrefixCache::PrefixCache(int first_slot, int n_slots) {
  SI_CHECK(n_slots >= 1, "prefix cache needs at least one slot (got {})", n_slots);
  for (int i = n_slots - 1; i >= 0; --i) free_slots_.push_back(first_slot + i);
}

uint64_t PrefixCache::hash(const std::vector<int32_t>& tokens) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the ids
  for (int32_t t : tokens) {
    h ^= uint32_t(t);
    h *= 1099511628211ull;
  }
  return h;
}

PrefixCache::Index::const_iterator PrefixCache::locate(const std::vector<int32_t>& tokens) const {
  auto [b, e] = index_.equal_range(hash(tokens));
  for (auto it = b; it != e; ++it)
    if (it->second->tokens == tokens) return it;
  return index_.end();
}

int PrefixCache::find(const std::vector<int32_t>& tokens) {
  const auto it = locate(tokens);
  if (it == index_.end()) {
    ++misses_;
    return -1;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++hits_;
  return lru_.front().slot;
}

int PrefixCache::slot_of(const std::vector<int32_t>& tokens) const {
  const auto it = locate(tokens);
  return it == index_.end() ? -1 : it->second->slot;
}

int PrefixCache::insert(const std::vector<int32_t>& tokens) {
  int slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    auto victim = lru_.end();
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it)
      if (!it->pinned) { victim = std::prev(it.base()); break; }
    if (victim == lru_.end()) return -1;
    auto [b, e] = index_.equal_range(hash(victim->tokens));
    for (auto it = b; it != e; ++it)
      if (it->second == victim) { index_.erase(it); break; }
    slot = victim->slot;
    lru_.erase(victim);
  }
  lru_.push_front(Entry{tokens, slot, false});
  index_.emplace(hash(tokens), lru_.begin());
  return slot;
}

void PrefixCache::pin(int slot, bool pinned) {
  for (auto& e : lru_)
    if (e.slot == slot) { e.pinned = pinned; return; }
}

}  // namespace si
