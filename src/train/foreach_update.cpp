// Fused SGD / Adam / AdamW steps on torch::optim's own state.
#include "train/foreach_update.h"

#include "checkpoint/optim_state.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_addcdiv.h>
#include <ATen/ops/_foreach_addcmul.h>
#include <ATen/ops/_foreach_div.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_sqrt.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

namespace nin::train {
namespace {

using torch::Tensor;
using Tensors = std::vector<Tensor>;
Tensors clones(const Tensors& ts) {
  Tensors out;
  for (const auto& t : ts) out.push_back(t.clone());
  return out;
}

// Puts back the values of `before` where `finite` is false (one where per tensor: no _foreach_where).
void keep_where_skipped(const Tensor& finite, const Tensors& now, const Tensors& before) {
  for (size_t i = 0; i < now.size(); ++i) now[i].copy_(torch::where(finite, now[i], before[i]));
}

using Group = GradGroup;

// The four updates that take a per-step scalar: a double on the CPU (one _foreach kernel,
// torch::optim's arithmetic), a 0-dim device tensor on a GPU (one broadcast op a tensor).
void add_scaled_(const Tensors& ys, const Tensors& xs, double a) { at::_foreach_add_(ys, xs, a); }
void add_scaled_(const Tensors& ys, const Tensors& xs, const Tensor& a) {
  for (size_t i = 0; i < ys.size(); ++i) ys[i].add_(xs[i] * a);
}
void scale_(const Tensors& ys, double a) { at::_foreach_mul_(ys, a); }
void scale_(const Tensors& ys, const Tensor& a) {
  for (const auto& y : ys) y.mul_(a);
}
void divide_(const Tensors& ys, double a) { at::_foreach_div_(ys, a); }
void divide_(const Tensors& ys, const Tensor& a) {
  for (const auto& y : ys) y.div_(a);
}
void add_ratio_(const Tensors& ys, const Tensors& num, const Tensors& den, double a) {
  at::_foreach_addcdiv_(ys, num, den, a);
}
void add_ratio_(const Tensors& ys, const Tensors& num, const Tensors& den, const Tensor& a) {
  for (size_t i = 0; i < ys.size(); ++i) ys[i].addcdiv_(num[i] * a, den[i]);
}

// Scalars as the update takes them: doubles, or the tensors themselves.
template <class S>
S scalar(const Tensor& t);
template <>
double scalar<double>(const Tensor& t) { return t.item<double>(); }  // a CPU tensor: no sync
template <>
Tensor scalar<Tensor>(const Tensor& t) { return t; }

// torch::optim::SGD: d = g + wd*p; buf = momentum*buf + d (buf = d the first time); p -= lr*buf.
template <class S>
void sgd_group(checkpoint::OptimStateMap& states, const torch::optim::SGDOptions& o, const Group& g, const UpdateScalars& u,
               const Tensor& finite) {
  if (o.nesterov() || o.dampening() != 0) throw std::invalid_argument("foreach_update: SGD without nesterov/dampening");
  Tensors d = o.weight_decay() != 0 ? at::_foreach_add(g.grads, g.params, o.weight_decay()) : g.grads;
  Tensors written = g.params, old_bufs, old_d;  // old_*: buffers that existed, and their directions
  for (size_t i = 0; o.momentum() != 0 && i < g.params.size(); ++i) {
    auto& slot = states[g.keys[i]];
    if (!slot) {
      // A zero buffer where the step is skipped: the next step's momentum*0 + d equals a fresh one.
      auto made = std::make_unique<torch::optim::SGDParamState>();
      made->momentum_buffer(finite.defined() ? torch::where(finite, d[i], torch::zeros_like(d[i])) : d[i].clone());
      slot = std::move(made);
    } else {
      old_d.push_back(d[i]);
      old_bufs.push_back(static_cast<torch::optim::SGDParamState&>(*slot).momentum_buffer());
    }
    d[i] = static_cast<torch::optim::SGDParamState&>(*slot).momentum_buffer();
    written.push_back(d[i]);
  }
  const Tensors before = finite.defined() ? clones(written) : Tensors{};
  if (!old_bufs.empty()) {
    at::_foreach_mul_(old_bufs, o.momentum());
    at::_foreach_add_(old_bufs, old_d, 1 - o.dampening());
  }
  add_scaled_(g.params, d, -scalar<S>(u.lr));
  if (finite.defined()) keep_where_skipped(finite, written, before);
}

// torch::optim::Adam (decoupled = false) and AdamW (true), one group.
template <class S, class Options, class State>
void adam_group(checkpoint::OptimStateMap& states, const Options& o, const Group& g, const UpdateScalars& u, const Tensor& finite,
                bool decoupled) {
  if (o.amsgrad()) throw std::invalid_argument("foreach_update: Adam without amsgrad");
  const auto [beta1, beta2] = o.betas();
  auto [avg, avg_sq] = adam_moments<State>(states, g);
  Tensors written = g.params;
  written.insert(written.end(), avg.begin(), avg.end());
  written.insert(written.end(), avg_sq.begin(), avg_sq.end());
  const Tensors before = finite.defined() ? clones(written) : Tensors{};
  const double wd = o.weight_decay();
  if (decoupled && wd != 0) scale_(g.params, 1 - scalar<S>(u.lr) * wd);
  const Tensors grad = !decoupled && wd != 0 ? at::_foreach_add(g.grads, g.params, wd) : g.grads;
  at::_foreach_mul_(avg, beta1);
  at::_foreach_add_(avg, grad, 1 - beta1);
  at::_foreach_mul_(avg_sq, beta2);
  at::_foreach_addcmul_(avg_sq, grad, grad, 1 - beta2);
  Tensors denom = at::_foreach_sqrt(avg_sq);
  divide_(denom, scalar<S>(u.sqrt_bc2));
  at::_foreach_add_(denom, o.eps());
  add_ratio_(g.params, avg, denom, scalar<S>(u.step_size));
  if (finite.defined()) keep_where_skipped(finite, written, before);
}

template <class S>
void update(torch::optim::Optimizer& opt, const UpdateScalars& u, const Tensor& finite) {
  using namespace torch::optim;
  const bool sgd = dynamic_cast<SGD*>(&opt), adam = dynamic_cast<Adam*>(&opt), adamw = dynamic_cast<AdamW*>(&opt);
  if (!sgd && !adam && !adamw) throw std::invalid_argument("foreach_update: SGD, Adam or AdamW only");
  for (auto& group : opt.param_groups()) {
    const Group g = with_grads(group);
    if (g.params.empty()) continue;
    if (sgd) sgd_group<S>(opt.state(), static_cast<const SGDOptions&>(group.options()), g, u, finite);
    if (adam)
      adam_group<S, AdamOptions, AdamParamState>(opt.state(), static_cast<const AdamOptions&>(group.options()), g, u,
                                                 finite, /*decoupled=*/false);
    if (adamw)
      adam_group<S, AdamWOptions, AdamWParamState>(opt.state(), static_cast<const AdamWOptions&>(group.options()), g,
                                                   u, finite, /*decoupled=*/true);
  }
}

template <class State>
State* adam_state(torch::optim::OptimizerParamState& s) {
  return dynamic_cast<State*>(&s);
}

}  // namespace

void foreach_update(torch::optim::Optimizer& opt, const UpdateScalars& u) {
  foreach_update(opt, u, /*read_on_host=*/u.finite.device().is_cpu());
}

void foreach_update(torch::optim::Optimizer& opt, const UpdateScalars& u, bool read_on_host) {
  torch::NoGradGuard no_grad;
  if (read_on_host) {
    if (u.finite.item<bool>()) update<double>(opt, u, Tensor());  // skipped: as if opt.step() never ran
  } else {
    update<Tensor>(opt, u, u.finite);
  }
}

GradGroup with_grads(torch::optim::OptimizerParamGroup& group) {
  GradGroup g;
  for (const auto& p : group.params())
    if (p.grad().defined())
      g.params.push_back(p.detach()), g.grads.push_back(p.grad().detach()), g.keys.push_back(checkpoint::state_key(p));
  return g;
}

int64_t adam_steps(const torch::optim::Optimizer& opt) {
  using namespace torch::optim;
  for (const auto& item : opt.state()) {
    if (auto* a = adam_state<AdamParamState>(*item.second)) return a->step();
    if (auto* w = adam_state<AdamWParamState>(*item.second)) return w->step();
  }
  return 0;
}

void set_adam_steps(torch::optim::Optimizer& opt, int64_t steps) {
  using namespace torch::optim;
  for (auto& item : opt.state()) {
    if (auto* a = adam_state<AdamParamState>(*item.second)) a->step(steps);
    if (auto* w = adam_state<AdamWParamState>(*item.second)) w->step(steps);
  }
}

}  // namespace nin::train
