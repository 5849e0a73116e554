// The optimizer update for all parameters at once (_foreach kernels), its scalars read on the device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "checkpoint/optim_state.h"

namespace nin::train {

// The values one update reads, as 0-dim tensors on the parameters' device. The step writes
// them there (train/optim.h's DeviceSchedule), so a captured graph replays each step's own.
struct UpdateScalars {
  torch::Tensor lr;         // double
  torch::Tensor step_size;  // double, Adam and AdamW: -lr / (1 - beta1^t), t counting this update
  torch::Tensor sqrt_bc2;   // double, Adam and AdamW: sqrt(1 - beta2^t)
  torch::Tensor finite;     // bool: false leaves parameters and state as they were
};

// One step of `opt` (torch::optim SGD, Adam or AdamW) computed with at::_foreach_* ops: a
// few fused kernels instead of several per parameter, the same arithmetic as torch::optim.
// The state lives in `opt` itself, created as torch::optim creates it, so checkpoints see
// no difference, except Adam's step count: DeviceSchedule counts it, and set_adam_steps()
// writes it back before a checkpoint. Parameters without a gradient are left alone.
//
// On the CPU the scalars are read as doubles (the host is the device: no sync) and a
// skipped step does nothing, so the update equals torch::optim's bit for bit. On a GPU the
// scalars stay tensors and a skipped step is undone by torch::where.
// Throws std::invalid_argument for other optimizers, nesterov, dampening or amsgrad.
void foreach_update(torch::optim::Optimizer& opt, const UpdateScalars& scalars);
// The same with the way chosen: read the scalars on the host (the CPU's way) or not (the
// GPU's; tests run it on the CPU).
void foreach_update(torch::optim::Optimizer& opt, const UpdateScalars& scalars, bool read_on_host);

// The parameters of one group that have a gradient, detached, as an update takes them.
struct GradGroup {
  std::vector<torch::Tensor> params, grads;
  std::vector<checkpoint::OptimStateKey> keys;  // of the original parameters (a detached tensor has its own TensorImpl)
};
GradGroup with_grads(torch::optim::OptimizerParamGroup& group);

// Adam's and AdamW's moments for each parameter of `g`, in order; where a parameter has
// none yet, made as torch::optim makes them (zeros in the parameter's layout), step 0
// (DeviceSchedule counts the steps; set_adam_steps() writes them here).
struct AdamMoments {
  std::vector<torch::Tensor> avg, avg_sq;
};
template <class State>
AdamMoments adam_moments(checkpoint::OptimStateMap& states, const GradGroup& g) {
  AdamMoments m;
  for (size_t i = 0; i < g.params.size(); ++i) {
    auto& slot = states[g.keys[i]];
    if (!slot) {
      auto made = std::make_unique<State>();
      made->step(0);
      made->exp_avg(torch::zeros_like(g.params[i], torch::MemoryFormat::Preserve));
      made->exp_avg_sq(torch::zeros_like(g.params[i], torch::MemoryFormat::Preserve));
      slot = std::move(made);
    }
    auto& s = static_cast<State&>(*slot);
    m.avg.push_back(s.exp_avg());
    m.avg_sq.push_back(s.exp_avg_sq());
  }
  return m;
}

// Adam's and AdamW's per-parameter step counts (torch::optim's state), for checkpoints.
int64_t adam_steps(const torch::optim::Optimizer& opt);  // 0 for SGD or before the first step
void set_adam_steps(torch::optim::Optimizer& opt, int64_t steps);

}  // namespace nin::train
