// Optimizer construction, the learning-rate schedule, the step and state placement.
#include "train/optim.h"

#include <algorithm>
#include <cmath>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "train/foreach_step.h"

namespace nin::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& c, const std::vector<torch::Tensor>& params) {
  using namespace torch::optim;
  if (c.optimizer == "adam") return std::make_unique<Adam>(params, AdamOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "adamw") return std::make_unique<AdamW>(params, AdamWOptions(c.lr).weight_decay(c.weight_decay));
  return std::make_unique<SGD>(params, SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
}

double lr_at(const Config& c, int64_t global_step, int64_t steps_per_epoch) {
  const double target = c.lr * (c.lr_scaling == "linear" ? double(c.batch_size) / c.base_batch_size : 1.0);
  const double warm_steps = c.warmup_epochs * steps_per_epoch;
  if (warm_steps > 0 && global_step < warm_steps) return target * (0.1 + 0.9 * global_step / warm_steps);
  if (c.lr_decay == "cosine") {  // from the target at the end of warm-up to 0 at the last step
    const double total = double(c.epochs) * steps_per_epoch - warm_steps;
    const double t = std::min(1.0, (global_step - warm_steps) / std::max(total, 1.0));
    return target * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return target;
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

void step_optimizer(torch::optim::Optimizer& opt, bool fused) {
  if (fused) {
    foreach_step(opt);
  } else {
    opt.step();
  }
}

void move_optimizer_state(torch::optim::Optimizer& opt, const torch::Device& device) {
  using namespace torch::optim;
  for (auto& item : opt.state()) {
    if (auto* s = dynamic_cast<SGDParamState*>(item.second.get())) {
      if (s->momentum_buffer().defined()) s->momentum_buffer(s->momentum_buffer().to(device));
    } else if (auto* a = dynamic_cast<AdamParamState*>(item.second.get())) {
      a->exp_avg(a->exp_avg().to(device));
      a->exp_avg_sq(a->exp_avg_sq().to(device));
      if (a->max_exp_avg_sq().defined()) a->max_exp_avg_sq(a->max_exp_avg_sq().to(device));
    } else if (auto* w = dynamic_cast<AdamWParamState*>(item.second.get())) {
      w->exp_avg(w->exp_avg().to(device));
      w->exp_avg_sq(w->exp_avg_sq().to(device));
      if (w->max_exp_avg_sq().defined()) w->max_exp_avg_sq(w->max_exp_avg_sq().to(device));
    }
  }
}

}  // namespace nin::train
