// Speed settings for CUDA: bf16 autocast and cuDNN autotuning; no-ops on the CPU.
#pragma once

#include <string>

#include <torch/types.h>

namespace nin::train {

// cuDNN autotuning on for CUDA (NiN's input shape never changes within a run).
void enable_cudnn_autotune(const torch::Device& device);

// Enables bf16 autocast for its scope when precision is "bf16" on a CUDA device.
class AutocastGuard {
 public:
  AutocastGuard(const std::string& precision, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
};

}  // namespace nin::train
