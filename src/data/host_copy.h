// Host-made tensors (indices, random draws) to the training device without a host sync.
#pragma once

#include <torch/types.h>

namespace nin::data {

// `host` (a CPU tensor) on `device`. On a GPU: copied from pinned memory with
// non_blocking, so the host does not wait (a pageable copy waits for the stream to reach
// it: a sync); the caching host allocator keeps the pinned buffer until the copy is done.
// On the CPU: `host` itself.
inline torch::Tensor to_device_async(const torch::Tensor& host, const torch::Device& device) {
  if (device.is_cpu()) return host;
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace nin::data
