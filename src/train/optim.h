// Optimizers from the config, the learning-rate schedule, and optimizer state placement.
#pragma once

#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "train/config.h"

namespace nin::train {

// SGD (with momentum and weight decay), Adam or AdamW, as `train.optimizer` says.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& c, const std::vector<torch::Tensor>& params);
// Goyal et al.: lr scaled with the global batch, reached by a linear warm-up from a tenth;
// then constant, or a cosine decay to 0 over the remaining steps.
double lr_at(const Config& c, int64_t global_step, int64_t steps_per_epoch);
void set_lr(torch::optim::Optimizer& opt, double lr);
// opt.step(), or the same update in fused _foreach kernels when `fused` (train.foreach).
void step_optimizer(torch::optim::Optimizer& opt, bool fused);
// Moves optimizer state restored on the CPU to the parameters' device.
void move_optimizer_state(torch::optim::Optimizer& opt, const torch::Device& device);

}  // namespace nin::train
