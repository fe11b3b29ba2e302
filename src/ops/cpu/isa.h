// ops/cpu/isa.h — which SIMD path the CPU kernels take, chosen at run time.
//
//   if (si::cpu::isa_active() == si::cpu::Isa::Avx512) ...
//   si::cpu::IsaOverride force(si::cpu::Isa::Scalar);   // tests: run one path, restored on scope exit
//
// The build has no -march flags, so every binary runs everywhere; kernels for AVX2+FMA+F16C and for
// AVX-512 (F/BW/VL) are compiled with per-function targets and picked here. SI_ISA=scalar|avx2|avx512
// in the environment caps the choice (to compare paths without rebuilding).
#pragma once

namespace si::cpu {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);
Isa isa_best();    // best path this CPU supports, capped by SI_ISA
Isa isa_active();  // isa_best() unless an IsaOverride is alive

// Forces `isa` (must be supported) for the lifetime of the object; not thread-safe, for tests.
class IsaOverride {
 public:
  explicit IsaOverride(Isa isa);
  ~IsaOverride();
  IsaOverride(const IsaOverride&) = delete;
  IsaOverride& operator=(const IsaOverride&) = delete;

 private:
  int previous_;
};

}  // namespace si::cpu
