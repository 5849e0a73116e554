// Speed settings: bf16 autocast and cuDNN autotuning (CUDA only), channels-last memory (any device).
#pragma once

#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace nin::train {

// cuDNN autotuning on for CUDA (NiN's input shape never changes within a run).
void enable_cudnn_autotune(const torch::Device& device);

// When `on`, stores the 4-d parameters (convolution weights) of `model` channels-last (NHWC),
// in place: same values, same tensors (hooks and optimizer state keyed on them stay valid).
void use_channels_last(torch::nn::Module& model, bool on);
// `x` ([N, C, H, W]) channels-last when `on`; otherwise `x` itself.
torch::Tensor in_memory_format(const torch::Tensor& x, bool channels_last);

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
