// The update on the CPU: foreach_update and the fused kernels against torch::optim; channels-last against contiguous; GraphStep refused on a CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "model/nin.h"
#include "test_util.h"
#include "train/foreach_update.h"
#include "train/graph_step.h"
#include "train/precision.h"

namespace {

using torch::Tensor;
using MakeOpt = std::function<std::unique_ptr<torch::optim::Optimizer>(const std::vector<Tensor>&)>;

std::vector<Tensor> some_params() {
  torch::manual_seed(3);
  return {torch::randn({4, 3, 2, 2}).requires_grad_(), torch::randn({5}).requires_grad_(),
          torch::randn({7, 2}).requires_grad_()};
}

// Gives each parameter a gradient that depends on the step and on the parameter.
void set_grads(const std::vector<Tensor>& params, int step) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i)
    params[i].mutable_grad() = (params[i] * 0.3 + double(step) * 0.1 - double(i) * 0.2).sin();
}

// The scalars of update `t` (1-based) at `lr`, as DeviceSchedule gives them, on the CPU.
nin::train::UpdateScalars scalars(double lr, int64_t t, bool finite = true, double beta1 = 0.9, double beta2 = 0.999) {
  const auto d = [](double v) { return torch::tensor(v, torch::kDouble); };
  return {d(lr), d(-(lr / (1 - std::pow(beta1, double(t))))), d(std::sqrt(1 - std::pow(beta2, double(t)))),
          torch::tensor(finite)};
}

std::vector<Tensor> copies(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// Runs torch::optim and foreach_update side by side for a few steps with varying lr: bit for bit.
void expect_same_steps(const MakeOpt& make, int steps = 4) {
  const auto a = some_params(), b = copies(a);
  auto reference = make(a), fused = make(b);
  for (int s = 0; s < steps; ++s) {
    const double lr = 0.05 + 0.01 * s;
    for (auto& g : reference->param_groups()) g.options().set_lr(lr);
    set_grads(a, s), set_grads(b, s);
    reference->step();
    nin::train::foreach_update(*fused, scalars(lr, s + 1));
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  EXPECT_EQ(reference->state().size(), fused->state().size());
}

TEST(ForeachUpdate, PlainSgdMatchesTorchOptim) {
  expect_same_steps([](const auto& p) { return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(0.1)); });
}

TEST(ForeachUpdate, SgdWithMomentumAndWeightDecayMatchesTorchOptim) {
  expect_same_steps([](const auto& p) {
    return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-3));
  });
}

TEST(ForeachUpdate, AdamMatchesTorchOptim) {
  expect_same_steps(
      [](const auto& p) { return std::make_unique<torch::optim::Adam>(p, torch::optim::AdamOptions(0.01).weight_decay(1e-3)); });
}

TEST(ForeachUpdate, AdamWMatchesTorchOptim) {
  expect_same_steps(
      [](const auto& p) { return std::make_unique<torch::optim::AdamW>(p, torch::optim::AdamWOptions(0.01).weight_decay(0.05)); });
}

TEST(ForeachUpdate, StateIsTorchOptimsOwnSoTheOtherCanContinue) {
  // Fused first, then torch::optim on the same optimizer: it must find and use the fused state.
  const auto a = some_params(), b = copies(a);
  torch::optim::SGD reference(a, torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::SGD mixed(b, torch::optim::SGDOptions(0.1).momentum(0.9));
  for (int s = 0; s < 3; ++s) {
    set_grads(a, s), set_grads(b, s);
    reference.step();
    if (s == 0) nin::train::foreach_update(mixed, scalars(0.1, 1)); else mixed.step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-6)) << "parameter " << i;
}

TEST(ForeachUpdate, AFalseFlagSkipsTheStepOnTheDevice) {
  const auto a = some_params(), b = copies(a);
  torch::optim::Adam reference(a, torch::optim::AdamOptions(0.01));
  torch::optim::Adam fused(b, torch::optim::AdamOptions(0.01));
  set_grads(a, 0), set_grads(b, 0);
  reference.step();
  nin::train::foreach_update(fused, scalars(0.01, 1));
  const auto before = copies(b);
  for (const auto& p : b) p.mutable_grad().fill_(std::numeric_limits<float>::quiet_NaN());
  nin::train::foreach_update(fused, scalars(0.01, 1, /*finite=*/false));  // skipped: nothing moves, no NaN enters
  for (size_t i = 0; i < b.size(); ++i) EXPECT_TRUE(torch::equal(b[i], before[i])) << "parameter " << i;
  for (const auto& item : fused.state()) {
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*item.second);
    EXPECT_TRUE(torch::isfinite(s.exp_avg()).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(s.exp_avg_sq()).all().item<bool>());
  }
}

TEST(ForeachUpdate, ASkippedFirstMomentumStepLeavesNoTrace) {
  const auto a = some_params(), b = copies(a);
  torch::optim::SGD reference(a, torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::SGD fused(b, torch::optim::SGDOptions(0.1).momentum(0.9));
  for (const auto& p : b) p.mutable_grad() = torch::full_like(p, std::numeric_limits<float>::infinity());
  nin::train::foreach_update(fused, scalars(0.1, 0, /*finite=*/false));
  for (int s = 0; s < 3; ++s) {
    set_grads(a, s), set_grads(b, s);
    reference.step();
    nin::train::foreach_update(fused, scalars(0.1, s + 1));
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

// The GPU's arithmetic (scalars as tensors, a skipped step undone by torch::where), run on the CPU.
TEST(ForeachUpdate, DeviceScalarsMatchTorchOptimAndSkipWithoutAHostRead) {
  for (const bool adam : {false, true}) {
    const auto a = some_params(), b = copies(a);
    std::unique_ptr<torch::optim::Optimizer> reference, fused;
    if (adam) {
      reference = std::make_unique<torch::optim::AdamW>(a, torch::optim::AdamWOptions(0.01).weight_decay(0.05));
      fused = std::make_unique<torch::optim::AdamW>(b, torch::optim::AdamWOptions(0.01).weight_decay(0.05));
    } else {
      reference = std::make_unique<torch::optim::SGD>(a, torch::optim::SGDOptions(0.1).momentum(0.9));
      fused = std::make_unique<torch::optim::SGD>(b, torch::optim::SGDOptions(0.1).momentum(0.9));
    }
    int64_t t = 0;
    for (int s = 0; s < 4; ++s) {
      const bool finite = s != 1;  // step 1 is skipped by both
      set_grads(a, s), set_grads(b, s);
      if (!finite)
        for (const auto& p : b) p.mutable_grad().fill_(std::numeric_limits<float>::quiet_NaN());
      if (finite) reference->step();
      t += finite;
      nin::train::foreach_update(*fused, scalars(adam ? 0.01 : 0.1, t, finite), /*read_on_host=*/false);
    }
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-6)) << (adam ? "adamw" : "sgd") << " parameter " << i;
  }
}

TEST(ChannelsLast, ForwardAndBackwardEqualTheContiguousOnes) {
  namespace F = torch::nn::functional;
  torch::manual_seed(7);
  nin::model::NiN plain(nin::model::NiNOptions{1, 10, 0.5});
  nin::model::NiN nhwc(nin::model::NiNOptions{1, 10, 0.5});
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < plain->parameters().size(); ++i) nhwc->parameters()[i].copy_(plain->parameters()[i]);
  }
  nin::train::use_channels_last(*nhwc, true);
  EXPECT_TRUE(nhwc->parameters()[0].is_contiguous(torch::MemoryFormat::ChannelsLast));
  plain->eval(), nhwc->eval();  // no dropout: the two must see the same function
  const Tensor x = torch::rand({2, 1, 67, 67}), y = torch::tensor({3, 8});
  const Tensor lp = plain->forward(x), ln = nhwc->forward(nin::train::in_memory_format(x, true));
  EXPECT_TRUE(torch::allclose(lp, ln, 1e-4, 1e-5));
  F::cross_entropy(lp, y).backward();
  F::cross_entropy(ln, y).backward();
  for (size_t i = 0; i < plain->parameters().size(); ++i)
    EXPECT_TRUE(torch::allclose(plain->parameters()[i].grad(), nhwc->parameters()[i].grad(), 1e-4, 1e-5)) << i;
}

}  // namespace

namespace {

TEST(GraphStep, OnTheCpuIsAClearInputError) {
  const std::string message = nin::test::input_error([] { nin::train::check_graph_support(torch::kCPU); });
  EXPECT_NE(message.find("train.cuda_graph = true"), std::string::npos) << message;
}

}  // namespace
