# NIN_TORCH_KINETO: whether LibTorch's profiler has Kineto (pip's and conda's do, Debian's
# 1.13 does not). With it log.profile_steps records a GPU's kernels and Kineto writes the
# Chrome trace (src/monitor/profiler_kineto.cpp); without, CPU ops only and the trace is made
# by nin-dist (profiler_no_kineto.cpp). AUTO runs a small profile at configure time
# (cmake/kineto_check.cpp): whether it can save a trace is the test. The result is cached.
set(NIN_WITH_KINETO "AUTO" CACHE STRING "LibTorch's profiler has Kineto: AUTO (check), ON or OFF")
if(NIN_WITH_KINETO STREQUAL "AUTO")
  if(NOT DEFINED NIN_TORCH_KINETO_CHECKED)
    try_run(_kineto_run _kineto_compiled ${CMAKE_BINARY_DIR}/kineto-check ${CMAKE_CURRENT_LIST_DIR}/kineto_check.cpp
            LINK_LIBRARIES ${TORCH_LIBRARIES}
            LINK_OPTIONS "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state"  # as cmake/LinkOrder.cmake
            CMAKE_FLAGS -DCMAKE_CXX_STANDARD=17
            COMPILE_OUTPUT_VARIABLE _kineto_compile_out
            ARGS ${CMAKE_BINARY_DIR}/kineto-check/trace.json)
    if(NOT _kineto_compiled)
      message(WARNING "cmake/kineto_check.cpp did not build; taking LibTorch's profiler as one without Kineto:\n"
                      "${_kineto_compile_out}")
    endif()
    if(_kineto_compiled AND _kineto_run EQUAL 0)
      set(NIN_TORCH_KINETO_CHECKED ON CACHE INTERNAL "LibTorch's profiler saved a trace at configure time")
    else()
      set(NIN_TORCH_KINETO_CHECKED OFF CACHE INTERNAL "LibTorch's profiler saved a trace at configure time")
    endif()
  endif()
  set(NIN_TORCH_KINETO ${NIN_TORCH_KINETO_CHECKED})
elseif(NIN_WITH_KINETO)
  set(NIN_TORCH_KINETO ON)
else()
  set(NIN_TORCH_KINETO OFF)
endif()
if(NIN_TORCH_KINETO)
  set(NIN_KINETO_STATUS "ON (log.profile_steps: CPU ops, and a GPU's kernels)")
else()
  set(NIN_KINETO_STATUS "OFF (log.profile_steps: CPU ops only)")
endif()
