// StaticStep on real ranks against the step it replaced, bit for bit.
#include <chrono>
#include <vector>

#include "../unit/static_step_reference.h"
#include "dist/mpi_communicator.h"

namespace nin::train {
namespace {

using namespace reference_step;
constexpr std::chrono::milliseconds kTimeout{60000};

TEST(MpiStaticStep, AdamWWithWarmUpAndCosineEqualsTheHostStep) {
  auto comm = dist::make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  config::Config c = small("adamw");
  c.weight_decay = 0.05, c.warmup_epochs = 0.5, c.lr_decay = "cosine";
  expect_bitwise_equal(reference(c, -1, *comm), static_steps(c, -1, *comm));
}

TEST(MpiStaticStep, ANaNOnOneRankIsSkippedOnEveryRank) {
  auto comm = dist::make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  config::Config c = small("sgd");
  c.momentum = 0.9;
  expect_bitwise_equal(reference(c, 3, *comm), static_steps(c, 3, *comm));
}

// Clipping after the allreduce: every rank clips the same averaged gradient by the same norm,
// so the ranks end with rank 0's parameters and norms, and with the host step's
// (torch::nn::utils::clip_grad_norm_ on the averaged gradient). Any world size.
TEST(MpiStaticStep, ClippedStepsLeaveEveryRankTheSameParameters) {
  auto comm = dist::make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  config::Config c = small("sgd");
  c.momentum = 0.9, c.label_smoothing = 0.1, c.clip_grad_norm = 0.2;
  c.batch_size = 8 * comm->size(), c.train_limit = 4 * c.batch_size;  // 4 steps an epoch
  const Trained t = static_steps(c, -1, *comm);
  expect_bitwise_equal(reference(c, -1, *comm), t);
  for (const auto& n : t.norms) EXPECT_GT(n.max, c.clip_grad_norm) << "no step clipped";
  std::vector<torch::Tensor> mine;
  for (const auto& p : t.model->parameters()) mine.push_back(p.detach().flatten().to(torch::kDouble));
  for (const auto& n : t.norms) mine.push_back(torch::tensor({n.mean, n.max}, torch::kDouble));
  const auto local = torch::cat(mine);
  auto root = local.clone();
  comm->broadcast(root, 0);
  EXPECT_TRUE(torch::equal(root, local)) << "rank " << comm->rank() << " differs from rank 0";
}

}  // namespace
}  // namespace nin::train
