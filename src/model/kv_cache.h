// model/kv_cache.h — keys and values of every layer for a fixed set of sequence slots, in one arena.
//
//   si::KvCache kv(cfg, /*n_slots=*/8, /*capacity=*/512);     // fp32, (L, S, KVH, capacity, D) x 2
//   kv.bytes();                       // exact arena bytes
//   kv.share_prefix(0, 3, 120);       // slot 3 starts with slot 0's first 120 positions, not copied
//   kv.copy_slot(0, 4, 120);          // slot 4 gets a private copy of them
//
// A shared prefix is read in place by attention (ops::AttnSource::prefix_*): prefill a shop's
// catalog once into a slot and start every request's slot from it. The prefix slot must not be
// rewritten below the shared length while others share it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/arena.h"
#include "formats/llama_config.h"
#include "ops/attention.h"

namespace si {

class KvCache {
 public:
  KvCache(const LlamaConfig& cfg, int n_slots, int capacity);

  int n_slots() const { return n_slots_; }
  int capacity() const { return capacity_; }
  size_t bytes() const { return arena_.bytes_used(); }
  size_t slot_bytes() const { return bytes() / size_t(n_slots_); }

  int length(int slot) const { return len_[check(slot)]; }
  void set_length(int slot, int n);  // after a forward appended tokens (the runner does this)
  void clear(int slot);
  void share_prefix(int src, int dst, int n_tokens);
  void copy_slot(int src, int dst, int n_tokens);

  // (KVH, capacity, D) blocks of layer `layer`, slot `slot`.
  float* k(int layer, int slot) { return base(layer, slot, 0); }
  float* v(int layer, int slot) { return base(layer, slot, 1); }
  // Where attention reads slot `slot` of layer `layer` from.
  ops::AttnSource source(int layer, int slot);

 private:
  size_t check(int slot) const;
  float* base(int layer, int slot, int kv) {
    return data_ + ((size_t(layer) * size_t(n_slots_) + size_t(slot)) * 2 + size_t(kv)) * slot_floats_;
  }
  Arena arena_;
  float* data_ = nullptr;
  int n_layers_, n_slots_, capacity_, kvh_, head_dim_;
  size_t slot_floats_;           // KVH * capacity * D
  std::vector<int> len_;         // tokens in each slot (shared prefix included)
  std::vector<int> prefix_slot_; // -1 or the slot whose first prefix_len_ positions this one reads
  std::vector<int> prefix_len_;
};

}  // namespace si
