#include "cli/cuda_device.h"

#include "core/error.h"

namespace si::cli {

const CudaModule* cuda_module_for(const std::string& device) {
  if (device != "cuda") return nullptr;
#ifdef SHOPINTENT_HAVE_CUDA
  const CudaModule& cuda = load_cuda_module(cuda_module_path());
  if (!cuda.device_available())
    fail("--device cuda: no usable CUDA device on this machine (no GPU or no driver); use --device cpu");
  return &cuda;
#else
  fail("--device cuda: this shopintent was built without CUDA (nvcc was not found at configure time); use --device cpu");
#endif
}

}  // namespace si::cli
