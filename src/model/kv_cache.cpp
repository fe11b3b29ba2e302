#include "model/kv_cache.h"

#include <cstring>

#include "core/error.h"

namespace si {

KvCache::KvCache(const LlamaConfig& cfg, int n_slots, int capacity)
    : arena_("kv-cache", 1 << 20),
      n_layers_(cfg.n_layers),
      kvh_(cfg.n_kv_heads),
      head_dim_(cfg.head_dim),
      slot_floats_(size_t(cfg.n_kv_heads) * size_t(capacity) * size_t(cfg.head_dim)),
      slots_(n_slots, capacity, "kv cache") {
  // (L, S, 2, KVH, capacity, D); untouched positions are never read, so no zeroing (pages stay lazy).
  data_ = arena_.alloc<float>(size_t(n_layers_) * size_t(n_slots) * 2 * slot_floats_);
}

void KvCache::copy_slot(int src, int dst, int n_tokens) {
  const SlotCopy c = slots_.copy(src, dst, n_tokens);
  if (c.in_place) return;
  const size_t row = size_t(head_dim_);
  for (int l = 0; l < n_layers_; ++l)
    for (int kv = 0; kv < 2; ++kv) {
      float* d = base(l, dst, kv);
      const float* own = base(l, src, kv);
      const float* pre = c.n_prefix > 0 ? base(l, c.prefix_slot, kv) : nullptr;
      for (int h = 0; h < kvh_; ++h)
        for (int p = 0; p < n_tokens; ++p) {
          const size_t off = (size_t(h) * size_t(capacity()) + size_t(p)) * row;
          // memmove: dst may be src's own prefix slot (the same rows then).
          std::memmove(d + off, (p < c.n_prefix ? pre : own) + off, row * sizeof(float));
        }
    }
}

ops::AttnSource KvCache::source(int layer, int slot) {
  ops::AttnSource s{k(layer, slot), v(layer, slot), capacity()};
  const int p = slots_.prefix_slot(slot);
  if (p >= 0) {
    s.prefix_k = k(layer, p);
    s.prefix_v = v(layer, p);
    s.prefix_len = slots_.prefix_len(slot);
  }
  return s;
}

}  // namespace si
