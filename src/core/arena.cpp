#include "core/arena.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace si {

Arena::Arena(std::string name, size_t chunk_bytes) : name_(std::move(name)), chunk_bytes_(chunk_bytes) {}
Arena::~Arena() = default;

void* Arena::alloc_bytes(size_t n, size_t align) {
  if (n == 0) n = 1;
  if (!chunks_.empty()) {
    Chunk& c = chunks_.back();
    const uintptr_t base = reinterpret_cast<uintptr_t>(c.mem.get());
    const uintptr_t p = (base + c.offset + align - 1) & ~uintptr_t(align - 1);
    if (p + n <= base + c.size) {
      used_ += (p + n) - (base + c.offset);
      c.offset = p + n - base;
      return reinterpret_cast<void*>(p);
    }
  }
  const size_t want = n + align > chunk_bytes_ ? ((n + align + 4095) & ~size_t(4095)) : chunk_bytes_;
  void* mem = std::aligned_alloc(4096, want);
  if (!mem) fail("{}: out of memory allocating {} bytes (arena holds {} bytes)", name_, want, reserved_);
  Chunk c;
  c.mem = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(mem), std::free);
  c.size = want;
  c.offset = n;
  chunks_.push_back(std::move(c));
  reserved_ += want;
  used_ += n;
  return mem;
}

void Arena::reset() {
  chunks_.clear();
  used_ = 0;
  reserved_ = 0;
}

}  // namespace si
