#!/usr/bin/env bash
# Compiles (never links) the sources that only build with a CUDA LibTorch against PyTorch
# 2.11's CUDA headers and this machine's CUDA toolkit, so GPU code that a CPU-only build
# skips still fails CI when it breaks. Usage: compile_cuda_sources.sh SOURCE...; ctest
# passes the global NIN_CUDA_SOURCES that nin_cuda_sources() in src/CMakeLists.txt collects.
# Exit 0: all compiled; 1: one failed (or the toolkit is missing); 77 (skip): the headers
# tarball is absent from ../shared/gpu beside the checkout.
#
# Environment (ctest sets it): NIN_SOURCE_DIR, NIN_BUILD_DIR (the headers unpack there),
# CXX, MPICXX, NIN_CUDA_INCLUDES (colon-separated; default /usr/local/cuda/include).
set -euo pipefail

src=${NIN_SOURCE_DIR:?NIN_SOURCE_DIR: the checkout}
build=${NIN_BUILD_DIR:?NIN_BUILD_DIR: where to unpack the headers}
tarball=$src/../shared/gpu/torch-2.11.0-cu130-headers.tar.xz
cxx=${CXX:-g++}
mpicxx=${MPICXX:-mpicxx}
IFS=: read -ra cuda_includes <<< "${NIN_CUDA_INCLUDES:-/usr/local/cuda/include}"

if [ $# -eq 0 ]; then
  echo "FAIL: no sources given (the global NIN_CUDA_SOURCES is empty?)" >&2
  exit 1
fi
if [ ! -f "$tarball" ]; then
  echo "skip: $tarball not found"
  exit 77
fi
for header in cuda_runtime.h nccl.h; do
  found=0
  for dir in "${cuda_includes[@]}"; do [ -f "$dir/$header" ] && found=1; done
  if [ $found = 0 ]; then
    echo "FAIL: $header not in ${cuda_includes[*]}: the CUDA toolkit with NCCL is needed" >&2
    exit 1
  fi
done

# Unpack once (62 MB); the stamp, written last, says the copy is complete and current.
headers=$build/torch-2.11.0-cu130-headers
if [ ! -f "$headers/.stamp" ] || [ "$tarball" -nt "$headers/.stamp" ]; then
  rm -rf "$headers" "$headers.partial"
  mkdir -p "$headers.partial"
  tar -xJf "$tarball" -C "$headers.partial"
  touch "$headers.partial/.stamp"
  mv "$headers.partial" "$headers"
fi

# MPI's own include flags, as system headers: warnings are for project code only.
read -ra mpi_flags <<< "$("$mpicxx" --showme:compile)"
mpi_flags=("${mpi_flags[@]/#-I/-isystem}")
flags=(-std=c++17 -fsyntax-only -Wall -Wextra -Wpedantic -Wunused-parameter -Werror
       -isystem "$headers/include" -isystem "$headers/include/torch/csrc/api/include")
for dir in "${cuda_includes[@]}"; do flags+=(-isystem "$dir"); done
flags+=("${mpi_flags[@]}" -I "$src/src")

failed=()
for source in "$@"; do
  echo "compile ${source#"$src"/}"
  "$cxx" "${flags[@]}" "$source" || failed+=("${source#"$src"/}")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAIL: ${#failed[@]} of $# CUDA-only sources do not compile: ${failed[*]}" >&2
  exit 1
fi
echo "ok: $# CUDA-only sources compile against PyTorch 2.11 + CUDA headers"
