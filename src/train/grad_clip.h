// The global L2 norm of the averaged gradient and the clip by it, on the device, as PyTorch's clip_grad_norm_.
#pragma once

#include <vector>

#include <torch/types.h>

namespace nin::train {

// sqrt(sum over tensors of ||g||^2), as torch::nn::utils::clip_grad_norm_ takes it (a norm
// per tensor, then the norm of those), so that clipping by it equals clip_grad_norm_ bit for
// bit. A 0-dim tensor on the gradients' device, in their dtype. NaN or Inf
// when a gradient holds one.
torch::Tensor global_norm(const std::vector<torch::Tensor>& grads);

// g *= min(1, max_norm / (norm + 1e-6)) for every tensor of `grads` (any tensors holding
// them: the reducer's buckets). A non-finite norm makes the gradients non-finite too: the
// step must not apply them (StaticStep's finite flag includes the norm when it clips).
void clip_to_norm(const std::vector<torch::Tensor>& grads, const torch::Tensor& norm, double max_norm);

}  // namespace nin::train
