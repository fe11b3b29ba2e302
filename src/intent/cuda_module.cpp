// The CUDA module's side of intent/cuda_module.h: its entry point, over CudaBackend and GPTQ's CUDA backend. Compiled only
// into libshopintent-cuda.so (src/intent/CMakeLists.txt), whose version script exports nothing else.
#include "intent/cuda_module.h"

#include "intent/cuda_backend.h"
#include "ops/cuda/device.h"
#include "quant/cuda/gptq_backend_cuda.h"

namespace si {
namespace {

bool device_available() { return cuda::available(); }

std::unique_ptr<LmBackend> make_backend(const LlamaModel& model, const CudaBackendOptions& o) {
  return std::make_unique<CudaBackend>(model, CudaRunnerOptions{.n_slots = o.n_slots, .capacity = o.capacity,
                                                                .max_tokens = o.max_tokens,
                                                                .graph_max_tokens = o.graph_max_tokens,
                                                                .fp8_min_tokens = o.fp8_min_tokens});
}

}  // namespace
}  // namespace si

extern "C" const si::CudaModule* shopintent_cuda_module() {
  static const si::CudaModule table{si::kCudaModuleAbi, &si::device_available, &si::make_backend,
                                        &si::make_gptq_backend_cuda};
  return &table;
}
