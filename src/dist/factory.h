// Picks the communicator backend for a device: NCCL for CUDA, MPI or local for CPU.
#pragma once

#include <chrono>
#include <memory>

#include <torch/types.h>

#include "dist/communicator.h"
#include "dist/process.h"

namespace nin::dist {

// World of 1: local; CPU device: MPI; CUDA device: NCCL (in builds with a CUDA LibTorch
// and NCCL; elsewhere asking for CUDA is an InputError that says so).
std::unique_ptr<Communicator> make_communicator(const Process& process, const torch::Device& device,
                                                std::chrono::milliseconds timeout);

// True when this build can drive CUDA tensors through NCCL.
bool nccl_available();

}  // namespace nin::dist
