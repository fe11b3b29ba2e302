// model/slot_table.h — the bookkeeping of a KV cache's sequence slots, shared by the CPU cache
// (model/kv_cache.h) and the CUDA runner: each slot's length and the prefix it reads in place from
// another slot, with the checks every user of slots makes. The caches own the keys and values.
//
//   si::SlotTable t(4, 512, "kv cache");   // `owner` starts every error message
//   t.share_prefix(0, 3, 120);             // slot 3 starts with slot 0's first 120 positions
//   const si::SlotCopy c = t.copy(3, 1, 130);   // positions [0, c.n_prefix) from c.prefix_slot,
//   ...copy them, and [c.n_prefix, 130) from slot 3...       //   the rest from slot 3
//
// Sharing follows one level (a slot that shares from a sharing slot reads the original prefix
// slot), so chains never form. The prefix slot must not be rewritten below the shared length while
// others share it.
#pragma once

#include <string>
#include <vector>

namespace si {

// Where copy_slot reads: positions [0, n_prefix) in prefix_slot (-1 and 0 when src shares none),
// [n_prefix, n_tokens) in src itself. in_place: src == dst, nothing to move.
struct SlotCopy {
  int prefix_slot = -1;
  int n_prefix = 0;
  bool in_place = false;
};

class SlotTable {
 public:
  SlotTable(int n_slots, int capacity, std::string owner);

  int n_slots() const { return int(len_.size()); }
  int capacity() const { return capacity_; }
  size_t check(int slot) const;  // the slot as an index; throws when out of range
  int length(int slot) const { return len_[check(slot)]; }
  int prefix_slot(int slot) const { return prefix_slot_[check(slot)]; }  // -1: none
  int prefix_len(int slot) const { return prefix_len_[check(slot)]; }

  void set_length(int slot, int n);  // after a forward appended tokens (n <= capacity)
  void clear(int slot);
  void share_prefix(int src, int dst, int n_tokens);
  // Checks a copy of src's first n_tokens positions into dst and records dst as holding them, its
  // own (no shared prefix); the caller then moves the data as the returned plan says.
  SlotCopy copy(int src, int dst, int n_tokens);

 private:
  int capacity_;
  std::string owner_;
  std::vector<int> len_;          // tokens in each slot (shared prefix included)
  std::vector<int> prefix_slot_;  // -1 or the slot whose first prefix_len_ positions this one reads
  std::vector<int> prefix_len_;
};

}  // namespace si
