// Gradient norm and clipping on the device: the same arithmetic as clip_grad_norm_.
#include "train/grad_clip.h"

#include <ATen/ops/_foreach_norm.h>

namespace nin::train {

torch::Tensor global_norm(const std::vector<torch::Tensor>& grads) {
  const auto norms = at::_foreach_norm(grads, 2);  // one fused kernel on a GPU
  return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
}

void clip_to_norm(const std::vector<torch::Tensor>& grads, const torch::Tensor& norm, double max_norm) {
  torch::NoGradGuard no_grad;
  const auto coef = torch::clamp_max(max_norm / (norm + 1e-6), 1.0);  // clip_grad_norm_'s, NaN kept
  for (const auto& g : grads) g.mul_(coef);
}

}  // namespace nin::train
