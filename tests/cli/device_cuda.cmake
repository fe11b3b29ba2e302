# Runs `shopintent classify --device cuda` (or classify with DEVICE_ARGS instead) and checks how it
# ends: exit status 1 and one line on stderr that contains EXPECT, or, with ALLOW_SUCCESS (a GPU
# machine), an answer.
#   cmake -DEXE=shopintent -DMODEL=dir -DWORK=dir -DEXPECT=text [-DALLOW_SUCCESS=ON]
#         [-DCUDA_MODULE=path (SHOPINTENT_CUDA_MODULE)] [-DDEVICE_ARGS=a;b] -P device_cuda.cmake
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/catalog.txt "Milk 1 l\nBread\n")
if(DEFINED CUDA_MODULE)
  set(ENV{SHOPINTENT_CUDA_MODULE} ${CUDA_MODULE})
else()
  unset(ENV{SHOPINTENT_CUDA_MODULE})
endif()
if(NOT DEFINED DEVICE_ARGS)
  set(DEVICE_ARGS --device cuda)
endif()
execute_process(
  COMMAND ${EXE} classify --model ${MODEL} --catalog ${WORK}/catalog.txt --text "two breads please" ${DEVICE_ARGS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(ALLOW_SUCCESS AND rc EQUAL 0 AND out MATCHES "\"prediction\"")
  message(STATUS "answered with --device cuda: ${out}")
  return()
endif()
string(FIND "${err}" "${EXPECT}" at)
string(REGEX MATCHALL "\n" lines "${err}")
list(LENGTH lines n_lines)
if(NOT rc EQUAL 1 OR at EQUAL -1 OR NOT n_lines EQUAL 1)
  message(FATAL_ERROR "expected exit status 1 and one line with '${EXPECT}', got exit status ${rc} and:\n${err}${out}")
endif()
message(STATUS "as expected: ${err}")
