// A CUDA module of the next ABI version, which the loader must refuse (test_cuda_module).
#include "intent/cuda_module.h"

extern "C" const si::CudaModule* shopintent_cuda_module() {
  static const si::CudaModule table{si::kCudaModuleAbi + 1, nullptr, nullptr};
  return &table;
}
