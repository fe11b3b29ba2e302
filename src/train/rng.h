// train/rng.h — the trainer's random numbers: small, explicit state (saved in checkpoints so a resumed
// run draws the same numbers) and the same sequence on every platform (no std:: distributions).
//
//   si::train::Rng r(42);  double u = r.uniform();  double z = r.normal();
//   uint64_t s = r.state(); r.set_state(s);
#pragma once

#include <cmath>
#include <cstdint>

namespace si::train {

// splitmix64's finaliser: a good 64-bit mix, also used as a counter-based hash (dropout masks).
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline double unit_from_bits(uint64_t x) { return double(x >> 11) * 0x1.0p-53; }  // [0, 1)

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : s_(seed) {}
  uint64_t next() { return mix64(s_++); }
  double uniform() { return unit_from_bits(next()); }
  double normal() {  // Box-Muller, one value per call (no cached second value: state stays one word)
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  uint64_t below(uint64_t n) { return next() % n; }  // modulo bias is irrelevant for shuffling batches
  uint64_t state() const { return s_; }
  void set_state(uint64_t s) { s_ = s; }

 private:
  uint64_t s_;
};

}  // namespace si::train
