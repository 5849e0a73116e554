// The optimizer update for all parameters at once (_foreach kernels), with an optional device-side skip.
#pragma once

#include <torch/optim/optimizer.h>
#include <torch/types.h>

namespace nin::train {

// One step of `opt` (torch::optim SGD, Adam or AdamW) computed with at::_foreach_* ops: a
// few fused kernels instead of several per parameter, same result to float rounding. The
// state lives in `opt` itself, created as torch::optim creates it, so checkpoints and
// set_lr() see no difference. Parameters without a gradient are left alone.
//
// `finite`, when defined, is a 0-dim bool on the parameters' device: where it is false the
// parameters and the state keep their old values (the step is skipped without the host
// reading the flag). Unlike torch::optim, a skipped step still advances Adam's step count.
// Throws std::invalid_argument for other optimizers, nesterov, dampening or amsgrad.
void foreach_step(torch::optim::Optimizer& opt, const torch::Tensor& finite = {});

}  // namespace nin::train
