// core/arena.h — bump allocators that own a region of memory and report its bytes.
//
//   si::Arena kv("kv-cache");
//   float* k = kv.alloc<float>(n_layer * n_ctx * kv_dim);   // (L, T, KV)
//   fmt::print("{}: {:.1f} MiB\n", kv.name(), kv.bytes_used() / 1048576.0);
//
// Memory comes in 64-byte aligned chunks (default 64 MiB, or larger for a large request) and is
// freed all at once by reset() or the destructor, so RAM/VRAM figures in reports are exact sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace si {

class Arena {
 public:
  explicit Arena(std::string name, size_t chunk_bytes = size_t(64) << 20);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) noexcept = default;
  Arena& operator=(Arena&&) noexcept = default;

  void* alloc_bytes(size_t n, size_t align = 64);
  template <typename T> T* alloc(size_t count) { return static_cast<T*>(alloc_bytes(count * sizeof(T), alignof(T) > 64 ? alignof(T) : 64)); }

  void reset();                                   // frees every chunk
  const std::string& name() const { return name_; }
  size_t bytes_used() const { return used_; }      // sum of allocations (with alignment padding)
  size_t bytes_reserved() const { return reserved_; }  // sum of chunk sizes obtained from the OS

 private:
  struct Chunk {
    std::unique_ptr<uint8_t, void (*)(void*)> mem{nullptr, nullptr};
    size_t size = 0;
    size_t offset = 0;
  };
  std::string name_;
  size_t chunk_bytes_;
  std::vector<Chunk> chunks_;
  size_t used_ = 0;
  size_t reserved_ = 0;
};

}  // namespace si
