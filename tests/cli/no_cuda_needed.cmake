# The executable needs no CUDA library, directly or through another library (CUDA's runtime and
# cuBLASLt cost ~200 MB of RSS once mapped); the module, which must, shows that the check sees them.
#   cmake -DEXE=shopintent -DMODULE=libshopintent-cuda.so -P no_cuda_needed.cmake
function(cuda_libraries out)
  file(GET_RUNTIME_DEPENDENCIES ${ARGN} RESOLVED_DEPENDENCIES_VAR found UNRESOLVED_DEPENDENCIES_VAR missing)
  set(cuda ${found} ${missing})
  list(FILTER cuda INCLUDE REGEX "lib(cuda|cudart|cublas|cublasLt)\\.so")
  set(${out} ${cuda} PARENT_SCOPE)
endfunction()
cuda_libraries(in_exe EXECUTABLES ${EXE})
cuda_libraries(in_module MODULES ${MODULE})
if(in_exe)
  message(FATAL_ERROR "${EXE} needs CUDA libraries: ${in_exe}")
endif()
if(NOT in_module MATCHES "libcudart" OR NOT in_module MATCHES "libcublasLt")
  message(FATAL_ERROR "the check sees no CUDA runtime and cuBLASLt in ${MODULE} (${in_module}): is it broken?")
endif()
message(STATUS "${EXE}: no CUDA library; ${MODULE}: ${in_module}")
