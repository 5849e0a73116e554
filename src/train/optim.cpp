// Optimizer construction, the learning-rate schedule, the step and state placement.
#include "train/optim.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>


namespace nin::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::Config& c, const std::vector<torch::Tensor>& params) {
  using namespace torch::optim;
  if (c.optimizer == "adam") return std::make_unique<Adam>(params, AdamOptions(c.lr).weight_decay(c.weight_decay));
  if (c.optimizer == "adamw") return std::make_unique<AdamW>(params, AdamWOptions(c.lr).weight_decay(c.weight_decay));
  return std::make_unique<SGD>(params, SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
}

double lr_at(const config::Config& c, int64_t global_step, int64_t steps_per_epoch) {
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

namespace {

// Adam's and AdamW's betas; (0, 0) for SGD, whose update reads no bias correction.
std::tuple<double, double> betas_of(const torch::optim::Optimizer& opt) {
  const auto& o = opt.param_groups().front().options();
  if (auto* a = dynamic_cast<const torch::optim::AdamOptions*>(&o)) return a->betas();
  if (auto* w = dynamic_cast<const torch::optim::AdamWOptions*>(&o)) return w->betas();
  return {0.0, 0.0};
}

// A 1-element view of `table` at `index`, clamped to the table: a device lookup.
torch::Tensor lookup(const torch::Tensor& table, const torch::Tensor& index) {
  return table.index_select(0, index.clamp(0, table.size(0) - 1).reshape({1})).reshape({});
}

}  // namespace

DeviceSchedule::DeviceSchedule(const config::Config& c, int64_t steps_per_epoch, const torch::optim::Optimizer& opt,
                               const torch::Device& device) {
  const int64_t steps = std::max<int64_t>(c.epochs * steps_per_epoch, 1);
  const auto [beta1, beta2] = betas_of(opt);
  std::vector<double> lr(static_cast<size_t>(steps)), bc1(static_cast<size_t>(steps + 1)),
      sqrt_bc2(static_cast<size_t>(steps + 1));
  for (int64_t s = 0; s < steps; ++s) lr[size_t(s)] = lr_at(c, s, steps_per_epoch);
  for (int64_t t = 0; t <= steps; ++t) {  // as torch::optim::Adam computes them, in double
    bc1[size_t(t)] = 1 - std::pow(beta1, double(t));
    sqrt_bc2[size_t(t)] = std::sqrt(1 - std::pow(beta2, double(t)));
  }
  const auto on_device = [&](const std::vector<double>& v) {
    return torch::tensor(v, torch::kDouble).to(device);
  };
  lr_ = on_device(lr), bc1_ = on_device(bc1), sqrt_bc2_ = on_device(sqrt_bc2);
}

UpdateScalars DeviceSchedule::at(const torch::Tensor& step, const torch::Tensor& t, const torch::Tensor& finite) const {
  const auto lr = lookup(lr_, step);
  // -(lr / bc1): IEEE division and negation, so the same double as the host's -lr / bc1.
  return {lr, -(lr / lookup(bc1_, t)), lookup(sqrt_bc2_, t), finite};
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
