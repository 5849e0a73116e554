// The training loss with label smoothing, the gradient norm and its clip, and the meter's
// record of the norms, against closed forms and against PyTorch's own functions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/nn/utils/clip_grad.h>

#include "train/grad_clip.h"
#include "train/meter.h"
#include "train/step.h"
#include "util/host_reads.h"

namespace nin::train {
namespace {

// Row 1: z = (1, 2, 3), y = 0, so -log p_k = lse - z_k with lse = log(e + e^2 + e^3), and
// mean_k(-log p_k) = lse - 2. Row 2: equal logits, every -log p_k = ln 3 whatever e.
TEST(StaticStepLoss, LabelSmoothingIsTheClosedForm) {
  const auto z = torch::tensor({1.0, 2.0, 3.0, 0.0, 0.0, 0.0}, torch::kDouble).view({2, 3});
  const auto y = torch::tensor({0, 2}, torch::kLong);
  const double eps = 0.3, lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double row1 = (1 - eps) * (lse - 1) + eps * (lse - 2);
  EXPECT_NEAR(row1, 2.107605964, 1e-9);  // by hand: 0.7 * 2.407605964 + 0.3 * 1.407605964
  EXPECT_NEAR(training_loss(z, y, eps).item<double>(), (row1 + std::log(3.0)) / 2, 1e-12);
}

TEST(StaticStepLoss, NoSmoothingIsThePlainCrossEntropyBitForBit) {
  torch::manual_seed(3);
  const auto z = torch::randn({16, 10}) * 4;
  const auto y = torch::randint(10, {16}, torch::kLong);
  EXPECT_TRUE(torch::equal(training_loss(z, y, 0.0), torch::nn::functional::cross_entropy(z, y)));
}

std::vector<torch::Tensor> known_grads() { return {torch::tensor({3.f, 4.f}), torch::tensor({{12.f}})}; }

TEST(StaticStepClip, TheNormOfAKnownGradientIsTheClosedForm) {
  EXPECT_EQ(global_norm(known_grads()).item<float>(), 13.f);  // sqrt(3^2 + 4^2 + 12^2)
}

TEST(StaticStepClip, ClipScalesByMaxNormOverNormAndLeavesASmallerNormAlone) {
  auto grads = known_grads();
  clip_to_norm(grads, global_norm(grads), /*max_norm=*/6.5);  // coefficient 6.5 / (13 + 1e-6)
  EXPECT_NEAR(grads[0][0].item<float>(), 1.5, 1e-6);
  EXPECT_NEAR(grads[0][1].item<float>(), 2.0, 1e-6);
  EXPECT_NEAR(grads[1][0][0].item<float>(), 6.0, 1e-6);
  auto kept = known_grads();
  clip_to_norm(kept, global_norm(kept), /*max_norm=*/20);
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_TRUE(torch::equal(kept[i], known_grads()[i]));
}

TEST(StaticStepClip, EqualsClipGradNormBitForBit) {
  torch::manual_seed(5);
  std::vector<torch::Tensor> params;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{96, 1, 11, 11}, {96}, {10, 384, 3, 3}, {10}}) {
    params.push_back(torch::randn(shape).requires_grad_());
    params.back().mutable_grad() = torch::randn(shape) * 0.1;
  }
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(p.grad().clone());
  const auto norm = global_norm(grads);
  clip_to_norm(grads, norm, 0.3);
  EXPECT_EQ(torch::nn::utils::clip_grad_norm_(params, 0.3), norm.item<double>());
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i].grad(), grads[i])) << i;
}

// Finite gradients whose norm overflows: the clip leaves them 0, finite, so only a flag that
// tests the norm itself (StaticStep's, when it clips) keeps such a step from being applied.
TEST(StaticStepClip, AnOverflowingNormIsInfWhileTheClippedGradientIsFinite) {
  std::vector<torch::Tensor> grads{torch::full({2}, 3e38f)};
  const auto norm = global_norm(grads);
  EXPECT_TRUE(std::isinf(norm.item<float>()));
  clip_to_norm(grads, norm, 1.0);
  EXPECT_TRUE(torch::isfinite(grads[0]).all().item<bool>());
}

TEST(Meter, GradNormsAreTheMeanAndMaxOverAppliedStepsReadAtOnce) {
  EpochMeter meter(torch::kCPU);
  const auto step = [&](bool applied, float norm) {
    meter.begin_step();
    meter.commit_step(torch::tensor(applied), /*images=*/4, torch::tensor(norm));
  };
  step(true, 13.f);
  step(false, std::numeric_limits<float>::quiet_NaN());  // skipped: in neither figure
  step(false, 100.f);
  step(true, 5.f);
  const int64_t reads = host_reads();
  const rundir::GradNorms n = meter.grad_norms_sync();
  EXPECT_EQ(host_reads(), reads + 1);
  EXPECT_EQ(n.mean, 9.0);
  EXPECT_EQ(n.max, 13.0);
  meter.reset();  // a new epoch
  EXPECT_EQ(meter.grad_norms_sync().mean, 0.0);
  EXPECT_EQ(meter.grad_norms_sync().max, 0.0);
}

}  // namespace
}  // namespace nin::train
