// intent/cuda_module.h — the seam between the shopintent executable and its CUDA backend, which is
// a separate module (libshopintent-cuda.so, beside the executable) loaded only for --device cuda.
//
//   const si::CudaModule& cuda = si::load_cuda_module(si::cuda_module_path());  // throws one line
//   if (!cuda.device_available()) ...                                             // no GPU / driver
//   std::unique_ptr<si::LmBackend> b = cuda.make_backend(model, {.n_slots = 24, .capacity = 512});
//   gptq_options.backend = cuda.make_gptq_backend;                                // quantize --device cuda
//
// Why a module: the CUDA runtime and cuBLASLt cost ~200 MB of resident memory as soon as they are
// mapped, even when no GPU is touched; a CPU run of the executable must not pay that (issue 4's
// peak-RSS budget). So the executable links no CUDA library and dlopens the module on demand, as
// llama.cpp does with GGML_BACKEND_DL.
//
// The module is built from the same tree as the executable and shares C++ types with it
// (LlamaModel, LmBackend, si::Error), so the table below is C++; only the entry point is extern "C"
// for dlsym. abi_version comes first and never moves: bump kCudaModuleAbi whenever this header,
// LmBackend, LlamaModel or GptqBackend changes shape, and a stale module is refused instead of crashing.
#pragma once

#include <memory>
#include <string>

#include "intent/lm_backend.h"

namespace si {

class LlamaModel;
struct LlamaConfig;
struct CalibSet;
class GptqBackend;

// The CUDA runner's options the CLI chooses (a subset of CudaRunnerOptions, free of CUDA headers).
struct CudaBackendOptions {
  int n_slots = 1;
  int capacity = 2048;          // positions per slot
  int max_tokens = 1024;        // tokens of one forward pass; longer batches run as several passes
  int graph_max_tokens = 64;    // passes up to this many tokens replay CUDA graphs
  int fp8_min_tokens = 0;       // passes this large run their matmuls in FP8 (CudaRunnerOptions); 0 never
};

inline constexpr int kCudaModuleAbi = 4;  // 3: LmBackend::logits_batch; 4: fp8_min_tokens

struct CudaModule {
  int abi_version;  // kCudaModuleAbi of the module's build
  // True when a CUDA device can be used; false (never throws) without a GPU or driver.
  bool (*device_available)();
  // The engine's backend on the GPU (uploads the weights); throws si::Error.
  std::unique_ptr<LmBackend> (*make_backend)(const LlamaModel& model, const CudaBackendOptions& options);
  // GPTQ's work on the GPU (quant/cuda/gptq_backend_cuda.h); throws si::Error.
  std::unique_ptr<GptqBackend> (*make_gptq_backend)(const LlamaConfig& cfg, const CalibSet& calib);
};

// The module's one exported symbol, found by name with dlsym.
inline constexpr char kCudaModuleEntry[] = "shopintent_cuda_module";
using CudaModuleEntry = const CudaModule* (*)();

// Host side (intent/cuda_module_loader.cpp, CUDA builds only).
// The module file: $SHOPINTENT_CUDA_MODULE when set, else libshopintent-cuda.so in the directory of
// the running executable (where the build puts it).
std::string cuda_module_path();
// Loads the module at `path` (RTLD_NOW: a missing CUDA library fails here, not mid-run) and returns
// its table; it stays loaded for the life of the process. Throws a one-line si::Error naming the
// file and dlerror() when it cannot be loaded, is not a shopintent CUDA module, or is of another ABI.
const CudaModule& load_cuda_module(const std::string& path);

}  // namespace si

// Defined by the module only (intent/cuda_module.cpp); the host finds it with dlsym.
extern "C" const si::CudaModule* shopintent_cuda_module();
