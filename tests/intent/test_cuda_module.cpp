// The executable's side of the CUDA module (intent/cuda_module.h): the module the build makes loads
// and answers as the statically linked CUDA code does, an exception thrown inside it is caught here
// as si::Error, and files that are missing, not a module or of another ABI are refused with one line
// naming them. Runs with or without a GPU.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "intent/cuda_module.h"
#include "model/llama_model.h"
#include "ops/cuda/device.h"
#include "test_paths.h"

namespace si {
namespace {

// The loader's error for `path`, or "" when it loads.
std::string load_error(const std::string& path) {
  try {
    load_cuda_module(path);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(CudaModule, BuiltModuleLoads) {
  const CudaModule& m = load_cuda_module(SHOPINTENT_CUDA_MODULE_PATH);
  EXPECT_EQ(m.abi_version, kCudaModuleAbi);
  EXPECT_EQ(m.device_available(), cuda::available());
  EXPECT_EQ(&load_cuda_module(SHOPINTENT_CUDA_MODULE_PATH), &m);  // loaded once, same table
}

TEST(CudaModule, BackendOrOneLineErrorAcrossTheBoundary) {
  const std::string dir = test::fixture("gguf/hf");
  SI_REQUIRE_FIXTURE(dir + "/model.safetensors");
  const LlamaModel model = LlamaModel::load(dir);
  const CudaModule& m = load_cuda_module(SHOPINTENT_CUDA_MODULE_PATH);
  if (m.device_available()) {
    const auto backend = m.make_backend(model, {.n_slots = 2, .capacity = 64, .max_tokens = 64});
    EXPECT_EQ(backend->n_vocab(), model.config().vocab_size);
    EXPECT_EQ(backend->n_slots(), 2);
  } else {
    // Thrown by the module's own copy of si_core, caught by this one's type.
    try {
      m.make_backend(model, {.n_slots = 2, .capacity = 64, .max_tokens = 64});
      FAIL() << "make_backend without a GPU did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no usable CUDA device"), std::string::npos) << e.what();
    }
  }
}

TEST(CudaModule, MissingFileIsNamed) {
  const std::string path = std::string(SHOPINTENT_BINARY_DIR) + "/no-such-dir/libshopintent-cuda.so";
  const std::string e = load_error(path);
  EXPECT_NE(e.find("cannot load the CUDA module " + path + ": cannot open shared object file"), std::string::npos) << e;
  EXPECT_NE(e.find("--target shopintent-cuda"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(CudaModule, OtherLibraryIsNotAModule) {
  const std::string e = load_error(SHOPINTENT_NOT_A_MODULE_PATH);
  EXPECT_NE(e.find(std::string(SHOPINTENT_NOT_A_MODULE_PATH) + " is not a shopintent CUDA module"), std::string::npos) << e;
  EXPECT_NE(e.find("undefined symbol: shopintent_cuda_module"), std::string::npos) << e;
}

TEST(CudaModule, OtherAbiIsRefused) {
  const std::string e = load_error(SHOPINTENT_OTHER_ABI_MODULE_PATH);
  EXPECT_NE(e.find(fmt::format("has ABI version {}, this shopintent needs {}", kCudaModuleAbi + 1, kCudaModuleAbi)),
            std::string::npos) << e;
}

}  // namespace
}  // namespace si
