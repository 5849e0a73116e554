// Optimizers from the config, the learning-rate schedule, and optimizer state placement.
#pragma once

#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "config/config.h"
#include "train/foreach_update.h"

namespace nin::train {

// SGD (with momentum and weight decay), Adam or AdamW, as `train.optimizer` says. Their lr
// (train.lr, as torch::optim requires one) is not read by the update: DeviceSchedule is the
// lr's one home, and StaticStep mirrors its value into the param groups.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::Config& c, const std::vector<torch::Tensor>& params);
// Goyal et al.: lr scaled with the global batch, reached by a linear warm-up from a tenth;
// then constant, or a cosine decay to 0 over the remaining steps.
double lr_at(const config::Config& c, int64_t global_step, int64_t steps_per_epoch);

// The schedule as tables on the training device, indexed by step: the step looks up its lr
// and Adam's bias corrections there, so a captured graph replays each step's own values,
// and they are bit for bit what lr_at and torch::optim compute on the host.
class DeviceSchedule {
 public:
  DeviceSchedule(const config::Config& c, int64_t steps_per_epoch, const torch::optim::Optimizer& opt,
                 const torch::Device& device);
  // The scalars of global step `step` (0-based), Adam's `t`-th update (1-based; a skipped
  // step is not counted, as torch::optim does not count it): all 0-dim device tensors.
  UpdateScalars at(const torch::Tensor& step, const torch::Tensor& t, const torch::Tensor& finite) const;

 private:
  torch::Tensor lr_;                // double [steps]: lr_at of each step
  torch::Tensor bc1_, sqrt_bc2_;    // double [steps + 1], by t: 1 - beta1^t, sqrt(1 - beta2^t)
};
// Moves optimizer state restored on the CPU to the parameters' device.
void move_optimizer_state(torch::optim::Optimizer& opt, const torch::Device& device);

}  // namespace nin::train
