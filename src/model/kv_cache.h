// model/kv_cache.h — keys and values of every layer for a fixed set of sequence slots, in one arena.
//
//   si::KvCache kv(cfg, /*n_slots=*/8, /*capacity=*/512);     // fp32, (L, S, KVH, capacity, D) x 2
//   kv.bytes();                       // exact arena bytes
//   kv.share_prefix(0, 3, 120);       // slot 3 starts with slot 0's first 120 positions, not copied
//   kv.copy_slot(0, 4, 120);          // slot 4 gets a private copy of them
//
// A shared prefix is read in place by attention (ops::AttnSource::prefix_*): prefill a shop's
// catalog once into a slot and start every request's slot from it. The slots' lengths and prefixes
// are a SlotTable (model/slot_table.h), as in the CUDA runner.
#pragma once

#include <cstdint>

#include "core/arena.h"
#include "formats/llama_config.h"
#include "model/slot_table.h"
#include "ops/attention.h"

namespace si {

class KvCache {
 public:
  KvCache(const LlamaConfig& cfg, int n_slots, int capacity);

  int n_slots() const { return slots_.n_slots(); }
  int capacity() const { return slots_.capacity(); }
  size_t bytes() const { return arena_.bytes_used(); }
  size_t slot_bytes() const { return bytes() / size_t(n_slots()); }

  int length(int slot) const { return slots_.length(slot); }
  void set_length(int slot, int n) { slots_.set_length(slot, n); }  // after a forward appended tokens
  void clear(int slot) { slots_.clear(slot); }
  void share_prefix(int src, int dst, int n_tokens) { slots_.share_prefix(src, dst, n_tokens); }
  void copy_slot(int src, int dst, int n_tokens);

  // (KVH, capacity, D) blocks of layer `layer`, slot `slot`.
  float* k(int layer, int slot) { return base(layer, slot, 0); }
  float* v(int layer, int slot) { return base(layer, slot, 1); }
  // Where attention reads slot `slot` of layer `layer` from.
  ops::AttnSource source(int layer, int slot);

 private:
  float* base(int layer, int slot, int kv) {
    return data_ + ((size_t(layer) * size_t(n_slots()) + size_t(slot)) * 2 + size_t(kv)) * slot_floats_;
  }
  Arena arena_;
  float* data_ = nullptr;
  int n_layers_, kvh_, head_dim_;
  size_t slot_floats_;           // KVH * capacity * D
  SlotTable slots_;
};

}  // namespace si
