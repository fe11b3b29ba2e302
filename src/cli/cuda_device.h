// cli/cuda_device.h — what `--device cuda` means to every command that takes it: the CUDA module,
// loaded only now (intent/cuda_module.h says why), and a check for a GPU, both before any model is
// loaded; one-line errors without a GPU or in a build without CUDA.
//
//   const si::CudaModule* cuda = si::cli::cuda_module_for(device);   // nullptr for "cpu"
#pragma once

#include <string>

#include "intent/cuda_module.h"

namespace si::cli {

const CudaModule* cuda_module_for(const std::string& device);

}  // namespace si::cli
