// Device figures in a CUDA build: the caching allocator's peak, the GPU's name in the table.
#include <limits>

#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_runtime.h>

#include "monitor/device_stats.h"

namespace nin::monitor {

int64_t peak_memory_bytes(const torch::Device& device) {
  if (!device.is_cuda()) return peak_rss_bytes();
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
}

double peak_flops(const torch::Device& device, const std::string& precision) {
  if (!device.is_cuda()) return std::numeric_limits<double>::quiet_NaN();
  cudaDeviceProp prop{};
  C10_CUDA_CHECK(cudaGetDeviceProperties(&prop, device.index()));
  const bool tf32 = at::globalContext().allowTF32CuDNN();  // convolutions on TF32 tensor cores
  return peak_flops_of(prop.name, precision == "bf16" ? "bf16" : tf32 ? "tf32" : "fp32");
}

}  // namespace nin::monitor
