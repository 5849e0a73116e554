// The reducer under mpirun: averaged gradients, accumulation, and ranks that stay in step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/mpi_communicator.h"
#include "dist/reducer.h"

namespace nin::dist {
namespace {

constexpr std::chrono::milliseconds kTimeout{60000};
constexpr int64_t kCap = 512;       // bytes: several buckets for this small net
constexpr int64_t kFirstCap = 128;  // bytes

// Same seed on every rank, so every rank starts from the same weights.
torch::nn::Sequential make_net() {
  torch::manual_seed(7);
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 3, /*kernel_size=*/3)),
                               torch::nn::Flatten(), torch::nn::Linear(3 * 4 * 4, 16),
                               torch::nn::ReLU(), torch::nn::Linear(16, 4));
}

// Rank `rank`'s input for micro-batch `step`; every rank can compute every rank's input.
torch::Tensor batch(int rank, int step) {
  torch::manual_seed(1000 + 100 * rank + step);
  return torch::randn({5, 1, 6, 6});
}

torch::Tensor loss(torch::nn::Sequential& net, const torch::Tensor& x) {
  return net->forward(x).square().sum();
}

// Reference without any communication: (1/size) * sum over ranks and the given steps.
std::vector<torch::Tensor> reference_grads(int size, const std::vector<int>& steps) {
  auto net = make_net();
  net->zero_grad();
  for (int r = 0; r < size; ++r) {
    for (int step : steps) loss(net, batch(r, step)).backward();
  }
  std::vector<torch::Tensor> grads;
  for (const auto& p : net->parameters()) grads.push_back(p.grad() / size);
  return grads;
}

void expect_grads(torch::nn::Sequential& net, const std::vector<torch::Tensor>& want) {
  const auto params = net->parameters();
  ASSERT_EQ(params.size(), want.size());
  for (size_t i = 0; i < params.size(); ++i) {
    // Summation order differs between MPI and the reference: close, not bitwise.
    EXPECT_TRUE(torch::allclose(params[i].grad(), want[i], 1e-5, 1e-5)) << "param " << i;
  }
}

TEST(MpiReducer, AveragesGradientsOverRanks) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  auto net = make_net();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  ASSERT_GT(reducer.num_buckets(), 2u);
  for (int step = 0; step < 2; ++step) {  // buckets are reused
    reducer.zero_grad();
    reducer.prepare(/*sync=*/true);
    loss(net, batch(comm->rank(), step)).backward();
    reducer.finalize();
    expect_grads(net, reference_grads(comm->size(), {step}));
  }
}

TEST(MpiReducer, AccumulatesThreeMicroBatches) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  auto net = make_net();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  reducer.zero_grad();
  for (int micro = 0; micro < 3; ++micro) {
    reducer.prepare(/*sync=*/micro == 2);
    loss(net, batch(comm->rank(), micro)).backward();
    reducer.finalize();
  }
  expect_grads(net, reference_grads(comm->size(), {0, 1, 2}));
}

TEST(MpiReducer, RanksStayBitwiseIdenticalAfterSteps) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  auto net = make_net();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  for (int step = 0; step < 3; ++step) {
    reducer.zero_grad();
    reducer.prepare(/*sync=*/true);
    loss(net, batch(comm->rank(), step)).backward();
    reducer.finalize();
    opt.step();
  }
  for (const auto& p : net->parameters()) {
    auto from_root = p.detach().clone();
    comm->broadcast(from_root, 0);
    EXPECT_TRUE(torch::equal(from_root, p.detach()));
  }
}

}  // namespace
}  // namespace nin::dist
