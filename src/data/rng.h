// data/rng.h — the generator's own PRNG: identical streams on every machine and compiler.
//
//   si::Rng rng(si::mix(seed, row_index));
//   size_t k = rng.below(catalog.size());     // uniform in [0, n)
//   if (rng.chance_ppm(150000)) ...           // 15 %
//
// splitmix64 with an integer-only range mapping; no std:: distributions (their output differs
// between standard libraries) and no floating point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace si {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Combines values into one well-mixed 64-bit seed.
inline uint64_t mix(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b + 0x632BE59BD9B4E019ull)); }
inline uint64_t mix(uint64_t a, uint64_t b, uint64_t c) { return mix(mix(a, b), c); }

__extension__ typedef unsigned __int128 u128;  // GCC/Clang builtin; the mapping needs 64x64->128

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by the high half of a 128-bit product (bias < n / 2^64: irrelevant here).
  size_t below(size_t n) {
    return static_cast<size_t>((static_cast<u128>(next()) * n) >> 64);
  }
  // Uniform in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(below(static_cast<size_t>(hi - lo + 1))); }
  bool chance_ppm(uint32_t ppm) { return below(1000000) < ppm; }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  uint64_t state_;
};

}  // namespace si
