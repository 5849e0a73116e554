// The optimizer update as one fused kernel a group (at::_fused_sgd_, _fused_adam_, _fused_adamw_).
#pragma once

#include <torch/optim/optimizer.h>

#include "train/foreach_update.h"

namespace nin::train {

// One step of `opt` (torch::optim SGD, Adam or AdamW) with LibTorch's fused kernels, their lr
// a device tensor and `found_inf` gating the whole update on the device, the
// same arithmetic as torch::optim in float32 (foreach_update.h computes the bias corrections in
// double). State lives in `opt` as torch::optim makes it. Returns false, having changed
// nothing, where this LibTorch has no such kernel (LibTorch 1.x) or `opt` asks for what they
// do not do (nesterov, dampening, amsgrad, a CPU); foreach_update then does the update.
bool fused_update(torch::optim::Optimizer& opt, const UpdateScalars& scalars, const torch::Tensor& adam_t);

}  // namespace nin::train
