// Host side of intent/cuda_module.h: finds libshopintent-cuda.so and dlopens it. Linked into the
// executable of CUDA builds, which itself links no CUDA library (see the header for why).
#include "intent/cuda_module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/error.h"

#ifndef SHOPINTENT_CUDA_MODULE_FILE
#error "SHOPINTENT_CUDA_MODULE_FILE (the module's file name) comes from src/intent/CMakeLists.txt"
#endif

namespace si {
namespace {

// dlerror()'s text without the file name it often starts with (our messages name the file).
std::string dl_error(const std::string& path) {
  const char* e = dlerror();
  std::string s = e ? e : "unknown dynamic loader error";
  if (s.starts_with(path + ": ")) s.erase(0, path.size() + 2);
  return s;
}

}  // namespace

std::string cuda_module_path() {
  if (const char* env = std::getenv("SHOPINTENT_CUDA_MODULE"); env && *env) return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    fail("--device cuda: cannot find the running executable (/proc/self/exe: {}); set SHOPINTENT_CUDA_MODULE to the path of {}",
         ec.message(), SHOPINTENT_CUDA_MODULE_FILE);
  return (exe.parent_path() / SHOPINTENT_CUDA_MODULE_FILE).string();
}

const CudaModule& load_cuda_module(const std::string& path) {
  // RTLD_LOCAL: the module's symbols (its own copies of si_model, si_core, ...) stay out of the
  // executable's way. The handle is never closed: the backend's code lives in the module.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const std::string why = dl_error(path);
    std::error_code ec;
    fail("--device cuda: cannot load the CUDA module {}: {}; {}", path, why,
         std::filesystem::exists(path, ec)
             ? "it needs the CUDA runtime and cuBLASLt libraries it was built with, else use --device cpu"
             : "build it (cmake --build <build dir> --target shopintent-cuda puts it beside the executable), "
               "point SHOPINTENT_CUDA_MODULE at it, or use --device cpu");
  }
  dlerror();  // clear, so that a failed dlsym is told apart from a null symbol
  const auto entry = reinterpret_cast<CudaModuleEntry>(dlsym(handle, kCudaModuleEntry));
  if (!entry) {
    const std::string why = dl_error(path);
    dlclose(handle);
    fail("--device cuda: {} is not a shopintent CUDA module ({}); point SHOPINTENT_CUDA_MODULE at {} or unset it",
         path, why, SHOPINTENT_CUDA_MODULE_FILE);
  }
  const CudaModule* table = entry();
  if (!table || table->abi_version != kCudaModuleAbi) {
    const int abi = table ? table->abi_version : -1;
    dlclose(handle);
    fail("--device cuda: the CUDA module {} has ABI version {}, this shopintent needs {}; rebuild both from one tree",
         path, abi, kCudaModuleAbi);
  }
  return *table;
}

}  // namespace si
