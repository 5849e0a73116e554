# Finds the CUDA toolkit and NCCL for the NCCL backend, which needs only the toolkit
# (device pointers and streams), not a CUDA build of LibTorch. Sets NIN_HAVE_NCCL,
# NIN_NCCL_STATUS, NIN_TORCH_CUDA and the imported target nin::nccl.
set(NIN_HAVE_NCCL OFF)
set(NIN_NCCL_STATUS "off")
if(TORCH_CUDA_LIBRARIES OR TARGET torch_cuda)
  set(NIN_TORCH_CUDA ON)
else()
  set(NIN_TORCH_CUDA OFF)
endif()

if(NOT NIN_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h
    HINTS $ENV{NCCL_HOME} ${NCCL_HOME} ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl
    HINTS $ENV{NCCL_HOME} ${NCCL_HOME} ${CUDAToolkit_LIBRARY_DIR}
    PATH_SUFFIXES lib lib64)
  if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_ver REGEX "#define NCCL_(MAJOR|MINOR|PATCH) ")
    string(REGEX REPLACE ".*NCCL_MAJOR ([0-9]+).*NCCL_MINOR ([0-9]+).*NCCL_PATCH ([0-9]+).*" "\\1.\\2.\\3"
      NCCL_VERSION "${_nccl_ver}")
    add_library(nin::nccl INTERFACE IMPORTED)
    target_include_directories(nin::nccl SYSTEM INTERFACE "${NCCL_INCLUDE_DIR}")
    target_link_libraries(nin::nccl INTERFACE "${NCCL_LIBRARY}" CUDA::cudart)
    set(NIN_HAVE_NCCL ON)
    set(NIN_NCCL_STATUS "found ${NCCL_VERSION}: ${NCCL_LIBRARY} (CUDA toolkit ${CUDAToolkit_VERSION})")
  elseif(NIN_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "NIN_WITH_NCCL=ON but NCCL or the CUDA toolkit was not found; set NCCL_HOME")
  else()
    set(NIN_NCCL_STATUS "not found (CPU-only build; set NCCL_HOME to enable)")
  endif()
endif()
