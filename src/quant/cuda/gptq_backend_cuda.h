// quant/cuda/gptq_backend_cuda.h — the GptqBackend on a GPU (`quantize --to gptq:... --device cuda`):
// activations, calibration forward, Hessians and the GPTQ solve all on the device, fp32 like the
// CPU reference (cuBLAS sgemm without TF32, the ops/cuda kernels in fp32, fp64 Hessian sums and
// factorisations). Only the layer weights go up and the codes come back, once per Linear.
//
//   si::GptqModelOptions o;  ...
//   o.backend = si::make_gptq_backend_cuda;   // requires si::cuda::available()
//   si::gptq_quantize_model(o);
#pragma once

#include <memory>

#include "formats/llama_config.h"
#include "quant/gptq_backend.h"
#include "quant/gptq_calib.h"

namespace si {

std::unique_ptr<GptqBackend> make_gptq_backend_cuda(const LlamaConfig& cfg, const CalibSet& cs);

}  // namespace si
