#include "model/kv_cache.h"

#include <cstring>

#include "core/error.h"

namespace si {

KvCache::KvCache(const LlamaConfig& cfg, int n_slots, int capacity)
    : arena_("kv-cache", 1 << 20),
      n_layers_(cfg.n_layers),
      n_slots_(n_slots),
      capacity_(capacity),
      kvh_(cfg.n_kv_heads),
      head_dim_(cfg.head_dim),
      slot_floats_(size_t(cfg.n_kv_heads) * size_t(capacity) * size_t(cfg.head_dim)),
      len_(size_t(n_slots), 0),
      prefix_slot_(size_t(n_slots), -1),
      prefix_len_(size_t(n_slots), 0) {
  SI_CHECK(n_slots > 0 && capacity > 0, "kv cache: need at least one slot and one position, got {} slots of {}",
           n_slots, capacity);
  // (L, S, 2, KVH, capacity, D); untouched positions are never read, so no zeroing (pages stay lazy).
  data_ = arena_.alloc<float>(size_t(n_layers_) * size_t(n_slots_) * 2 * slot_floats_);
}

size_t KvCache::check(int slot) const {
  SI_CHECK(slot >= 0 && slot < n_slots_, "kv cache: slot {} out of range [0, {})", slot, n_slots_);
  return size_t(slot);
}

void KvCache::set_length(int slot, int n) {
  SI_CHECK(n >= 0 && n <= capacity_, "kv cache: slot {} length {} exceeds the capacity {}", slot, n, capacity_);
  len_[check(slot)] = n;
}

void KvCache::clear(int slot) {
  len_[check(slot)] = 0;
  prefix_slot_[size_t(slot)] = -1;
  prefix_len_[size_t(slot)] = 0;
}

void KvCache::share_prefix(int src, int dst, int n_tokens) {
  check(src);
  check(dst);
  SI_CHECK(src != dst, "kv cache: cannot share slot {} with itself", src);
  SI_CHECK(n_tokens >= 0 && n_tokens <= len_[size_t(src)], "kv cache: slot {} holds {} tokens, cannot share {}", src,
           len_[size_t(src)], n_tokens);
  // Follow one level of sharing so that chains never form.
  int from = src;
  if (prefix_slot_[size_t(src)] >= 0) {
    SI_CHECK(n_tokens <= prefix_len_[size_t(src)], "kv cache: slot {} itself shares a prefix of {} tokens; share "
             "at most those or use copy_slot", src, prefix_len_[size_t(src)]);
    from = prefix_slot_[size_t(src)];
  }
  prefix_slot_[size_t(dst)] = n_tokens > 0 ? from : -1;
  prefix_len_[size_t(dst)] = n_tokens;
  len_[size_t(dst)] = n_tokens;
}

void KvCache::copy_slot(int src, int dst, int n_tokens) {
  check(src);
  check(dst);
  SI_CHECK(n_tokens >= 0 && n_tokens <= len_[size_t(src)], "kv cache: slot {} holds {} tokens, cannot copy {}", src,
           len_[size_t(src)], n_tokens);
  if (src == dst) {
    len_[size_t(dst)] = n_tokens;
    return;
  }
  const size_t row = size_t(head_dim_);
  for (int l = 0; l < n_layers_; ++l) {
    const ops::AttnSource s = source(l, src);
    for (int kv = 0; kv < 2; ++kv) {
      float* d = base(l, dst, kv);
      for (int h = 0; h < kvh_; ++h)
        for (int p = 0; p < n_tokens; ++p) {
          const float* from = kv == 0 ? (p < s.prefix_len ? s.prefix_k : s.k) : (p < s.prefix_len ? s.prefix_v : s.v);
          const size_t off = (size_t(h) * size_t(capacity_) + size_t(p)) * row;
          std::memcpy(d + off, from + off, row * sizeof(float));
        }
    }
  }
  prefix_slot_[size_t(dst)] = -1;
  prefix_len_[size_t(dst)] = 0;
  len_[size_t(dst)] = n_tokens;
}

ops::AttnSource KvCache::source(int layer, int slot) {
  ops::AttnSource s{k(layer, slot), v(layer, slot), capacity_};
  const int p = prefix_slot_[check(slot)];
  if (p >= 0) {
    s.prefix_k = k(layer, p);
    s.prefix_v = v(layer, p);
    s.prefix_len = prefix_len_[size_t(slot)];
  }
  return s;
}

}  // namespace si
