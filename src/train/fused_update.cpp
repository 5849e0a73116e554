// Fused optimizer kernels where this LibTorch has them (2.2 and later: a tensor lr, found_inf).
#include "train/fused_update.h"

#if __has_include(<ATen/ops/_fused_sgd.h>) && __has_include(<ATen/ops/_fused_adamw.h>)
#define NIN_HAVE_FUSED_OPTIM 1
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>
#else
#define NIN_HAVE_FUSED_OPTIM 0
#endif

#include <memory>
#include <vector>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>


namespace nin::train {

#if NIN_HAVE_FUSED_OPTIM
namespace {

using torch::Tensor;
using Tensors = std::vector<Tensor>;

using Group = GradGroup;

// A zero momentum buffer where there is none: momentum*0 + d is the first step's buf = d, so
// every step is a plain one (is_first_step = false), and a skipped first step leaves zeros.
void sgd_group(checkpoint::OptimStateMap& states, const torch::optim::SGDOptions& o, const Group& g, const Tensor& lr,
               const Tensor& found_inf) {
  Tensors bufs;
  for (size_t i = 0; o.momentum() != 0 && i < g.params.size(); ++i) {
    auto& slot = states[g.keys[i]];
    if (!slot) {
      auto made = std::make_unique<torch::optim::SGDParamState>();
      made->momentum_buffer(torch::zeros_like(g.params[i], torch::MemoryFormat::Preserve));
      slot = std::move(made);
    }
    bufs.push_back(static_cast<torch::optim::SGDParamState&>(*slot).momentum_buffer());
  }
  at::_fused_sgd_(g.params, g.grads, bufs, o.weight_decay(), o.momentum(), lr, /*dampening=*/0.0,
                  /*nesterov=*/false, /*maximize=*/false, /*is_first_step=*/false, /*grad_scale=*/{}, found_inf);
}

template <class Options, class State>
void adam_group(checkpoint::OptimStateMap& states, const Options& o, const Group& g, const Tensor& lr, const Tensor& t,
                const Tensor& found_inf, bool decoupled) {
  const auto [avg, avg_sq] = adam_moments<State>(states, g);
  const Tensors steps(g.params.size(), t);  // read only: the kernel takes each parameter's count
  const auto [beta1, beta2] = o.betas();
  if (decoupled) {
    at::_fused_adamw_(g.params, g.grads, avg, avg_sq, /*max_exp_avg_sqs=*/{}, steps, lr, beta1, beta2,
                      o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/{}, found_inf);
  } else {
    at::_fused_adam_(g.params, g.grads, avg, avg_sq, /*max_exp_avg_sqs=*/{}, steps, lr, beta1, beta2,
                     o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/{}, found_inf);
  }
}

bool supported(torch::optim::Optimizer& opt) {
  using namespace torch::optim;
  for (auto& group : opt.param_groups()) {
    for (const auto& p : group.params())
      if (!p.is_cuda() || p.scalar_type() != torch::kFloat) return false;
    if (auto* o = dynamic_cast<SGDOptions*>(&group.options()); o && (o->nesterov() || o->dampening() != 0))
      return false;
    if (auto* o = dynamic_cast<AdamOptions*>(&group.options()); o && o->amsgrad()) return false;
    if (auto* o = dynamic_cast<AdamWOptions*>(&group.options()); o && o->amsgrad()) return false;
  }
  return dynamic_cast<SGD*>(&opt) || dynamic_cast<Adam*>(&opt) || dynamic_cast<AdamW*>(&opt);
}

}  // namespace

bool fused_update(torch::optim::Optimizer& opt, const UpdateScalars& u, const torch::Tensor& adam_t) {
  using namespace torch::optim;
  if (!supported(opt)) return false;
  torch::NoGradGuard no_grad;
  // The kernels read lr, the step count and found_inf as float32 on the parameters' device.
  const Tensor lr = u.lr.to(torch::kFloat), found_inf = u.finite.logical_not().to(torch::kFloat);
  const Tensor t = adam_t.defined() ? adam_t.to(torch::kFloat) : Tensor();
  for (auto& group : opt.param_groups()) {
    const Group g = with_grads(group);
    if (g.params.empty()) continue;
    if (dynamic_cast<SGD*>(&opt))
      sgd_group(opt.state(), static_cast<const SGDOptions&>(group.options()), g, lr, found_inf);
    if (dynamic_cast<Adam*>(&opt))
      adam_group<AdamOptions, AdamParamState>(opt.state(), static_cast<const AdamOptions&>(group.options()), g, lr, t,
                                              found_inf, /*decoupled=*/false);
    if (dynamic_cast<AdamW*>(&opt))
      adam_group<AdamWOptions, AdamWParamState>(opt.state(), static_cast<const AdamWOptions&>(group.options()), g, lr,
                                                t, found_inf, /*decoupled=*/true);
  }
  return true;
}

#else

bool fused_update(torch::optim::Optimizer& /*opt*/, const UpdateScalars& /*scalars*/, const torch::Tensor& /*adam_t*/) {
  return false;
}

#endif

}  // namespace nin::train
