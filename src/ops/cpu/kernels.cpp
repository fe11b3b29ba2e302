#include "ops/cpu/kernels.h"

namespace si::cpu {

const KernelTable& kernels(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return kernels_avx512();
    case Isa::Avx2: return kernels_avx2();
    case Isa::Scalar: break;
  }
  return kernels_scalar();
}

}  // namespace si::cpu
