// StaticStep against the step it replaced (host lr, host finite check, torch::optim), bit for bit on the CPU.
#include "static_step_reference.h"

namespace nin::train {
namespace {

using namespace reference_step;

// Returns the static run, for a test to look at its recorded gradient norms.
Trained expect_same(const config::Config& c, int64_t nan_step = -1) {
  auto comm = dist::make_local_communicator();
  Trained t = static_steps(c, nan_step, *comm);
  expect_bitwise_equal(reference(c, nan_step, *comm), t);
  return t;
}

constexpr double kClip = 0.2;  // below some step's norm in every epoch of these runs: each epoch clips

// Clipping was in force: some step's norm (recorded before clipping) lay above the bound.
void expect_clipped(const Trained& t) {
  for (const auto& n : t.norms) EXPECT_GT(n.max, kClip);
}
TEST(StaticStep, SgdWithMomentumWarmUpAndCosineEqualsTheHostStep) {
  config::Config c = small("sgd");
  c.momentum = 0.9, c.weight_decay = 1e-4, c.warmup_epochs = 0.5, c.lr_decay = "cosine";
  expect_same(c);
}

// With augmentation on: its draws reach the device without a read, so the epochs between two
// settles still make none (static_steps checks the count).
TEST(StaticStep, AdamWithAugmentationEqualsTheHostStep) {
  config::Config c = small("adam");
  c.lr_decay = "cosine", c.crop_padding = 4, c.flip = true;
  expect_same(c);
}

TEST(StaticStep, AdamWWithAccumulationEqualsTheHostStep) {
  config::Config c = small("adamw");
  c.weight_decay = 0.05, c.warmup_epochs = 1, c.lr_decay = "cosine", c.accumulate = 2;
  expect_same(c);
}

TEST(StaticStep, ANonFiniteStepIsSkippedOnTheDeviceAndNamedAtTheSettle) {
  config::Config c = small("adam");
  expect_same(c, /*nan_step=*/2);  // skipped: Adam's count and the parameters as the host's skip left them
}

TEST(StaticStep, AFirstSgdStepSkippedLeavesNoMomentumTrace) {
  config::Config c = small("sgd");
  c.momentum = 0.9;
  expect_same(c, /*nan_step=*/0);
}

TEST(StaticStep, ClippedSgdWithLabelSmoothingEqualsClipGradNormThenTheHostStep) {
  config::Config c = small("sgd");
  c.momentum = 0.9, c.label_smoothing = 0.1, c.clip_grad_norm = kClip;
  expect_clipped(expect_same(c));
}

TEST(StaticStep, ClippedAdamWWithAccumulationEqualsClipGradNormThenTheHostStep) {
  config::Config c = small("adamw");
  c.weight_decay = 0.05, c.accumulate = 2, c.clip_grad_norm = kClip;
  expect_clipped(expect_same(c));
}

TEST(StaticStep, ClippedStepWithANaNIsSkippedAndItsNormNotRecorded) {
  config::Config c = small("adam");
  c.clip_grad_norm = kClip;
  expect_clipped(expect_same(c, /*nan_step=*/1));  // clipping turns no Inf into a NaN that slips through
}

// The lr's one home is the DeviceSchedule: the param groups mirror it, and an lr set there is
// an error at the next settle_sync rather than a value the update silently ignores.
TEST(StaticStep, TheOptimizersLrMirrorsTheScheduleAndSettingItThereIsAnError) {
  config::Config c = small("sgd");
  c.warmup_epochs = 1;  // the lr moves from step to step
  auto comm = dist::make_local_communicator();
  Trained t = fresh(c);
  auto loader = make_loader(c, *comm);
  dist::Reducer reducer(t.model->parameters(), *comm, 1 << 20, 1 << 18);
  EpochMeter meter(torch::kCPU);
  const monitor::Fault no_fault;
  StaticStep step(c, 0, t.model, *t.optimizer, reducer, meter, no_fault, loader.steps_per_epoch(), 0,
                  torch::kCPU);
  loader.start(0);
  step.take(loader.next(), 0);
  step.take(loader.next(), 1);
  step.settle_sync();
  auto& options = t.optimizer->param_groups().front().options();
  EXPECT_EQ(options.get_lr(), lr_at(c, 1, loader.steps_per_epoch()));  // the last step's
  options.set_lr(0.5);
  EXPECT_THROW(step.settle_sync(), std::logic_error);
}

}  // namespace
}  // namespace nin::train
