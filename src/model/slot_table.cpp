#include "model/slot_table.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace si {

SlotTable::SlotTable(int n_slots, int capacity, std::string owner)
    : capacity_(capacity), owner_(std::move(owner)) {
  SI_CHECK(n_slots > 0 && capacity > 0, "{}: need at least one slot and one position, got {} slots of {}", owner_,
           n_slots, capacity);
  len_.assign(size_t(n_slots), 0);
  prefix_slot_.assign(size_t(n_slots), -1);
  prefix_len_.assign(size_t(n_slots), 0);
}

size_t SlotTable::check(int slot) const {
  SI_CHECK(slot >= 0 && slot < n_slots(), "{}: slot {} out of range [0, {})", owner_, slot, n_slots());
  return size_t(slot);
}

void SlotTable::set_length(int slot, int n) {
  SI_CHECK(n >= 0 && n <= capacity_, "{}: slot {} length {} exceeds the capacity {}", owner_, slot, n, capacity_);
  len_[check(slot)] = n;
}

void SlotTable::clear(int slot) {
  len_[check(slot)] = 0;
  prefix_slot_[size_t(slot)] = -1;
  prefix_len_[size_t(slot)] = 0;
}

void SlotTable::share_prefix(int src, int dst, int n_tokens) {
  check(src);
  check(dst);
  SI_CHECK(src != dst, "{}: cannot share slot {} with itself", owner_, src);
  SI_CHECK(n_tokens >= 0 && n_tokens <= len_[size_t(src)], "{}: slot {} holds {} tokens, cannot share {}", owner_, src,
           len_[size_t(src)], n_tokens);
  int from = src;
  if (prefix_slot_[size_t(src)] >= 0) {
    SI_CHECK(n_tokens <= prefix_len_[size_t(src)],
             "{}: slot {} itself shares a prefix of {} tokens; share at most those or use copy_slot", owner_, src,
             prefix_len_[size_t(src)]);
    from = prefix_slot_[size_t(src)];
  }
  prefix_slot_[size_t(dst)] = n_tokens > 0 ? from : -1;
  prefix_len_[size_t(dst)] = n_tokens;
  len_[size_t(dst)] = n_tokens;
}

SlotCopy SlotTable::copy(int src, int dst, int n_tokens) {
  check(src);
  check(dst);
  SI_CHECK(n_tokens >= 0 && n_tokens <= len_[size_t(src)], "{}: slot {} holds {} tokens, cannot copy {}", owner_, src,
           len_[size_t(src)], n_tokens);
  SlotCopy c;
  if (src == dst) {
    c.in_place = true;
    len_[size_t(dst)] = n_tokens;  // keeps its shared prefix, if any
    return c;
  }
  if (prefix_slot_[size_t(src)] >= 0) {
    c.prefix_slot = prefix_slot_[size_t(src)];
    c.n_prefix = std::min(n_tokens, prefix_len_[size_t(src)]);
  }
  prefix_slot_[size_t(dst)] = -1;
  prefix_len_[size_t(dst)] = 0;
  len_[size_t(dst)] = n_tokens;
  return c;
}

}  // namespace si
