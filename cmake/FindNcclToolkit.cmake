# Finds the CUDA toolkit and NCCL for the NCCL backend, which needs only the toolkit
# (device pointers and streams), not a CUDA build of LibTorch. Sets NIN_HAVE_NCCL,
# NIN_NCCL_STATUS, NIN_TORCH_CUDA and the imported target nin::nccl.
# Which NCCL: NCCL_HOME when set; else, for a CUDA LibTorch from a pip wheel, the wheel's
# own NCCL (site-packages/nvidia/nccl), the one PyTorch loads, so that one process never
# holds two NCCLs; else the toolkit's; else the wheel's.
include(${CMAKE_CURRENT_LIST_DIR}/PipNccl.cmake)
set(NIN_HAVE_NCCL OFF)
set(NIN_NCCL_STATUS "off")
if(TORCH_CUDA_LIBRARIES OR TARGET torch_cuda)
  set(NIN_TORCH_CUDA ON)
else()
  set(NIN_TORCH_CUDA OFF)
endif()

if(NOT NIN_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  set(_nccl_torch_prefix "${TORCH_INSTALL_PREFIX}")
  if(NOT _nccl_torch_prefix AND Torch_DIR)  # Torch_DIR is <prefix>/share/cmake/Torch
    get_filename_component(_nccl_torch_prefix "${Torch_DIR}/../../.." ABSOLUTE)
  endif()
  nin_find_pip_nccl("${_nccl_torch_prefix}" _nccl_pip_inc _nccl_pip_lib)
  set(_nccl_pip_label "pip wheel beside LibTorch, the NCCL it loads; ")
  if(NOT "$ENV{NCCL_HOME}" STREQUAL "" OR NCCL_HOME)
    set(_nccl_from "NCCL_HOME; ")
  elseif(_nccl_pip_lib AND NIN_TORCH_CUDA)
    set(_nccl_from "${_nccl_pip_label}")
  else()
    set(_nccl_from "")  # the toolkit's, or the wheel's when the toolkit has none
  endif()

  if(_nccl_from STREQUAL _nccl_pip_label)
    # Plain variables: they hide a toolkit NCCL cached by an earlier configure.
    set(NCCL_INCLUDE_DIR "${_nccl_pip_inc}")
    set(NCCL_LIBRARY "${_nccl_pip_lib}")
  else()
    find_path(NCCL_INCLUDE_DIR nccl.h
      HINTS $ENV{NCCL_HOME} ${NCCL_HOME} ${CUDAToolkit_INCLUDE_DIRS}
      PATH_SUFFIXES include)
    find_library(NCCL_LIBRARY nccl
      HINTS $ENV{NCCL_HOME} ${NCCL_HOME} ${CUDAToolkit_LIBRARY_DIR}
      PATH_SUFFIXES lib lib64)
    if(NOT _nccl_from AND NOT (NCCL_INCLUDE_DIR AND NCCL_LIBRARY) AND _nccl_pip_lib)
      set(_nccl_from "${_nccl_pip_label}")
      set(NCCL_INCLUDE_DIR "${_nccl_pip_inc}")
      set(NCCL_LIBRARY "${_nccl_pip_lib}")
    endif()
  endif()

  if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_ver REGEX "#define NCCL_(MAJOR|MINOR|PATCH) ")
    string(REGEX REPLACE ".*NCCL_MAJOR ([0-9]+).*NCCL_MINOR ([0-9]+).*NCCL_PATCH ([0-9]+).*" "\\1.\\2.\\3"
      NCCL_VERSION "${_nccl_ver}")
    add_library(nin::nccl INTERFACE IMPORTED)
    target_include_directories(nin::nccl SYSTEM INTERFACE "${NCCL_INCLUDE_DIR}")
    target_link_libraries(nin::nccl INTERFACE "${NCCL_LIBRARY}" CUDA::cudart)
    set(NIN_HAVE_NCCL ON)
    set(NIN_NCCL_STATUS
      "found ${NCCL_VERSION}: ${NCCL_LIBRARY} (${_nccl_from}CUDA toolkit ${CUDAToolkit_VERSION})")
    if(NIN_TORCH_CUDA AND _nccl_pip_lib)
      get_filename_component(_nccl_real "${NCCL_LIBRARY}" REALPATH)
      get_filename_component(_nccl_pip_real "${_nccl_pip_lib}" REALPATH)
      if(NOT _nccl_real STREQUAL _nccl_pip_real)
        message(WARNING "NCCL ${NCCL_LIBRARY} is not the one LibTorch loads (${_nccl_pip_lib}): "
          "one process would hold two NCCLs. Unset NCCL_HOME to use LibTorch's.")
      endif()
    endif()
  elseif(NIN_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "NIN_WITH_NCCL=ON but NCCL or the CUDA toolkit was not found; set NCCL_HOME")
  else()
    set(NIN_NCCL_STATUS "not found (CPU-only build; set NCCL_HOME to enable)")
  endif()
endif()
