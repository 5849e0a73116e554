// What the device has used and can do: peak memory, and the peak FLOP/s that MFU divides by.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

namespace nin::monitor {

// This process's peak memory, bytes: on a CUDA device the caching allocator's peak of
// allocated bytes; on the CPU the peak resident set size (getrusage's ru_maxrss).
int64_t peak_memory_bytes(const torch::Device& device);
int64_t peak_rss_bytes();

// The device's dense peak FLOP/s for the run's train.precision; NaN on the CPU or for a GPU
// the table does not know. "fp32" takes the TF32 peak when cuDNN may use TF32 (LibTorch's
// default, so NiN's convolutions run on the tensor cores), the plain FP32 peak otherwise.
double peak_flops(const torch::Device& device, const std::string& precision);

// The table behind it, by the name CUDA gives the device ("NVIDIA H100 80GB HBM3"), for
// "fp32", "tf32" or "bf16": NVIDIA's data-sheet figures without sparsity; NaN when unknown.
double peak_flops_of(const std::string& device_name, const std::string& math);

}  // namespace nin::monitor
