// core/big_vector.h — std::vector for large buffers, backed by 2 MiB pages where the kernel allows.
//
//   si::big_vector<float> x(size_t(N * C));   // (N, C) activations, zeroed like any vector
//
// Why: the first touch of every fresh 4 KiB page is a page fault. On the development VM that costs
// 7.6 s per GiB (a memset of fresh memory; 0.13 s per GiB once the range is madvised to transparent
// huge pages, as the kernel's "madvise" THP mode asks), which made page faults a fifth of GPTQ's
// CPU time on the Llama-3.2-1B architecture: its per-Linear Hessians, factors and weight copies are
// hundreds of MiB each. Requests of 2 MiB and more are 2 MiB aligned and madvised; smaller ones are
// plain operator new. Where THP is off, madvise fails harmlessly and the pages are ordinary.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace si {

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t(2) << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHuge) return static_cast<T*>(::operator new(bytes));
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, rounded);
    if (!p) throw std::bad_alloc();
    madvise(p, rounded, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < kHuge) ::operator delete(p);
    else std::free(p);
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
};

template <typename T>
using big_vector = std::vector<T, HugePageAllocator<T>>;

}  // namespace si
