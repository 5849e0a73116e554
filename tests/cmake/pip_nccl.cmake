# Checks that a CUDA LibTorch from a pip wheel gets the wheel's NCCL (the one PyTorch loads):
# nin_find_pip_nccl on fake site-packages trees, then cmake/FindNcclToolkit.cmake's choice
# in a tiny project configured against them.
# Usage: cmake -DNIN_SOURCE_DIR=<repo> -DWORK_DIR=<scratch> -P tests/cmake/pip_nccl.cmake
cmake_minimum_required(VERSION 3.18)
include(${NIN_SOURCE_DIR}/cmake/PipNccl.cmake)
set(failures 0)
macro(expect_eq what got want)
  if(NOT "${got}" STREQUAL "${want}")
    message(SEND_ERROR "${what}: got '${got}', want '${want}'")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "ok  ${what}")
  endif()
endmacro()
macro(expect_has what text part)
  string(FIND "${text}" "${part}" _at)
  if(_at EQUAL -1)
    message(SEND_ERROR "${what}: '${part}' not in:\n${text}")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "ok  ${what}")
  endif()
endmacro()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
get_filename_component(WORK_DIR ${WORK_DIR} REALPATH)  # the lookup answers with real paths
set(site ${WORK_DIR}/site-packages)  # a wheel's layout: torch/ and nvidia/nccl/ side by side
file(MAKE_DIRECTORY ${site}/torch/share/cmake/Torch ${site}/nvidia/nccl/include ${site}/nvidia/nccl/lib)
file(WRITE ${site}/nvidia/nccl/include/nccl.h
  "#define NCCL_MAJOR 2\n#define NCCL_MINOR 28\n#define NCCL_PATCH 9\n")
file(WRITE ${site}/nvidia/nccl/lib/libnccl.so.2 "")  # no libnccl.so link, as in the wheel
set(pip_lib ${site}/nvidia/nccl/lib/libnccl.so.2)

# 1. The lookup itself.
nin_find_pip_nccl(${site}/torch inc lib)
expect_eq("wheel: include dir" "${inc}" "${site}/nvidia/nccl/include")
expect_eq("wheel: library is the full path of libnccl.so.2" "${lib}" "${pip_lib}")
nin_find_pip_nccl(${site}/torch/share/cmake/Torch/../../.. inc lib)
expect_eq("wheel reached through Torch_DIR/../../..: library" "${lib}" "${pip_lib}")
file(CREATE_LINK ${site}/torch ${WORK_DIR}/venv-torch SYMBOLIC)
nin_find_pip_nccl(${WORK_DIR}/venv-torch inc lib)
expect_eq("link to a wheel's torch/: library" "${lib}" "${pip_lib}")
nin_find_pip_nccl(/usr inc lib)
expect_eq("system LibTorch: no include dir" "${inc}" "")
expect_eq("system LibTorch: no library" "${lib}" "")
nin_find_pip_nccl("" inc lib)
expect_eq("no LibTorch prefix: no library" "${lib}" "")
set(bare ${WORK_DIR}/bare/site-packages)  # a wheel without nvidia-nccl
file(MAKE_DIRECTORY ${bare}/torch ${bare}/nvidia/nccl/include)
file(WRITE ${bare}/nvidia/nccl/include/nccl.h "")
nin_find_pip_nccl(${bare}/torch inc lib)
expect_eq("wheel with nccl.h but no libnccl.so.2: no library" "${lib}" "")
expect_eq("wheel with nccl.h but no libnccl.so.2: no include dir" "${inc}" "")

# 2. FindNcclToolkit.cmake's choice, in a tiny project that fakes what TorchConfig sets.
set(home ${WORK_DIR}/nccl-home)  # a toolkit-style NCCL for NCCL_HOME
file(MAKE_DIRECTORY ${home}/include ${home}/lib)
file(WRITE ${home}/include/nccl.h "#define NCCL_MAJOR 2\n#define NCCL_MINOR 27\n#define NCCL_PATCH 1\n")
file(WRITE ${home}/lib/libnccl.so "")
set(proj ${WORK_DIR}/project)
file(WRITE ${proj}/CMakeLists.txt "
cmake_minimum_required(VERSION 3.18)
project(probe CXX)
set(NIN_WITH_NCCL AUTO)
include(${NIN_SOURCE_DIR}/cmake/FindNcclToolkit.cmake)
file(WRITE \${CMAKE_BINARY_DIR}/result.cmake
  \"set(cuda_found [[\${CUDAToolkit_FOUND}]])\\nset(cuda_libdir [[\${CUDAToolkit_LIBRARY_DIR}]])
set(have [[\${NIN_HAVE_NCCL}]])\\nset(library [[\${NCCL_LIBRARY}]])\\nset(status [[\${NIN_NCCL_STATUS}]])\\n\")
")
unset(ENV{NCCL_HOME})  # each case says whether it sets one
# configure(<case> <cmake args>...): configures the probe; sets cuda_found, have, library,
# status and output (cmake's own messages).
function(configure name)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${proj} -B ${WORK_DIR}/build-${name} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configuring the probe (${name}) failed:\n${out}\n${err}")
  endif()
  include(${WORK_DIR}/build-${name}/result.cmake)
  foreach(v cuda_found cuda_libdir have library status)
    set(${v} "${${v}}" PARENT_SCOPE)
  endforeach()
  set(output "${out}${err}" PARENT_SCOPE)
endfunction()

configure(cuda-wheel -DTORCH_INSTALL_PREFIX=${site}/torch -DTORCH_CUDA_LIBRARIES=torch_cuda)
if(NOT cuda_found)
  message(STATUS "skipped the FindNcclToolkit.cmake cases: no CUDA toolkit here")
else()
  expect_eq("CUDA wheel: NCCL found" "${have}" "ON")
  expect_eq("CUDA wheel: the wheel's libnccl.so.2" "${library}" "${pip_lib}")
  expect_has("CUDA wheel: the status names the version, path and source" "${status}"
             "found 2.28.9: ${pip_lib} (pip wheel beside LibTorch, the NCCL it loads; CUDA toolkit")

  configure(cuda-wheel-via-dir -DTorch_DIR=${site}/torch/share/cmake/Torch -DTORCH_CUDA_LIBRARIES=torch_cuda)
  expect_eq("CUDA wheel found from Torch_DIR: the wheel's libnccl.so.2" "${library}" "${pip_lib}")

  configure(nccl-home -DTORCH_INSTALL_PREFIX=${site}/torch -DTORCH_CUDA_LIBRARIES=torch_cuda -DNCCL_HOME=${home})
  expect_eq("NCCL_HOME overrides the wheel" "${library}" "${home}/lib/libnccl.so")
  expect_has("NCCL_HOME: the status says so" "${status}" "found 2.27.1: ${home}/lib/libnccl.so (NCCL_HOME; CUDA toolkit")
  expect_has("NCCL_HOME: a warning that LibTorch loads another NCCL" "${output}" "two NCCLs")

  configure(cpu-wheel -DTORCH_INSTALL_PREFIX=${site}/torch)
  if(EXISTS ${cuda_libdir}/libnccl.so)  # else the wheel's is the fallback
    expect_has("CPU LibTorch: the toolkit's NCCL comes first" "${status}" "libnccl.so (CUDA toolkit")
  endif()

  configure(cuda-system -DTORCH_INSTALL_PREFIX=/usr -DTORCH_CUDA_LIBRARIES=torch_cuda)
  string(FIND "${status}" "pip wheel" at)
  expect_eq("system LibTorch: no wheel's NCCL" "${at}" "-1")
endif()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} check(s) failed")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
