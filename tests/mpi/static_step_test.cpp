// The static step on 2 real ranks against the step it replaced, bit for bit.
#include <chrono>

#include "../unit/static_step_reference.h"
#include "dist/mpi_communicator.h"

namespace nin::train {
namespace {

using namespace reference_step;
constexpr std::chrono::milliseconds kTimeout{60000};

TEST(MpiStaticStep, AdamWWithWarmUpAndCosineEqualsTheHostStep) {
  auto comm = dist::make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  Config c = small("adamw");
  c.weight_decay = 0.05, c.warmup_epochs = 0.5, c.lr_decay = "cosine";
  expect_bitwise_equal(reference(c, -1, *comm), static_steps(c, -1, *comm));
}

TEST(MpiStaticStep, ANaNOnOneRankIsSkippedOnEveryRank) {
  auto comm = dist::make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  Config c = small("sgd");
  c.momentum = 0.9;
  expect_bitwise_equal(reference(c, 3, *comm), static_steps(c, 3, *comm));
}

}  // namespace
}  // namespace nin::train
