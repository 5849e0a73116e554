# nin_find_pip_nccl(<torch_prefix> <out_include_dir> <out_library>): the NCCL that a pip
# PyTorch loads, from the nvidia-nccl wheel installed beside it.
# <torch_prefix> is LibTorch's install prefix (TORCH_INSTALL_PREFIX); for a wheel that is
# .../site-packages/torch, and NCCL lies in .../site-packages/nvidia/nccl (the same place
# for the cu12 and cu13 wheels). The wheel ships libnccl.so.2 and no libnccl.so link, which
# find_library does not match, so the library is returned as the full path of libnccl.so.2.
# Both outputs are set to "" when <torch_prefix> is not a wheel's or the wheel has no NCCL.
# Plain EXISTS checks rather than find_file: nothing is cached, so a later configure with
# another LibTorch looks again.
function(nin_find_pip_nccl torch_prefix out_inc out_lib)
  set(${out_inc} "" PARENT_SCOPE)
  set(${out_lib} "" PARENT_SCOPE)
  if(NOT torch_prefix)
    return()
  endif()
  get_filename_component(prefix "${torch_prefix}" REALPATH)  # a venv may link the tree
  get_filename_component(name "${prefix}" NAME)
  if(NOT name STREQUAL "torch")  # a system LibTorch (/usr, /opt/libtorch), not a wheel
    return()
  endif()
  get_filename_component(site "${prefix}" DIRECTORY)
  set(root "${site}/nvidia/nccl")
  if(EXISTS "${root}/include/nccl.h" AND EXISTS "${root}/lib/libnccl.so.2")
    set(${out_inc} "${root}/include" PARENT_SCOPE)
    set(${out_lib} "${root}/lib/libnccl.so.2" PARENT_SCOPE)
  endif()
endfunction()
