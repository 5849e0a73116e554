// The static step against the step it replaced (host lr, host finite check, torch::optim), bit for bit on the CPU.
#include "static_step_reference.h"

namespace nin::train {
namespace {

using namespace reference_step;

void expect_same(const Config& c, int64_t nan_step = -1) {
  auto comm = dist::make_local_communicator();
  expect_bitwise_equal(reference(c, nan_step, *comm), static_steps(c, nan_step, *comm));
}
TEST(StaticStep, SgdWithMomentumWarmUpAndCosineEqualsTheHostStep) {
  Config c = small("sgd");
  c.momentum = 0.9, c.weight_decay = 1e-4, c.warmup_epochs = 0.5, c.lr_decay = "cosine";
  expect_same(c);
}

TEST(StaticStep, AdamEqualsTheHostStep) {
  Config c = small("adam");
  c.lr_decay = "cosine";
  expect_same(c);
}

TEST(StaticStep, AdamWWithAccumulationEqualsTheHostStep) {
  Config c = small("adamw");
  c.weight_decay = 0.05, c.warmup_epochs = 1, c.lr_decay = "cosine", c.accumulate = 2;
  expect_same(c);
}

TEST(StaticStep, ANonFiniteStepIsSkippedOnTheDeviceAndNamedAtTheSettle) {
  Config c = small("adam");
  expect_same(c, /*nan_step=*/2);  // skipped: Adam's count and the parameters as the host's skip left them
}

TEST(StaticStep, AFirstSgdStepSkippedLeavesNoMomentumTrace) {
  Config c = small("sgd");
  c.momentum = 0.9;
  expect_same(c, /*nan_step=*/0);
}

}  // namespace
}  // namespace nin::train
