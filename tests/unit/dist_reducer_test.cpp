// Bucket planning and the reducer in a world of one (local communicator).
#include <algorithm>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/communicator.h"
#include "dist/reducer.h"

namespace nin::dist {
namespace {

using Plan = std::vector<std::vector<size_t>>;

TEST(PlanBuckets, ReverseOrderAndCaps) {
  // Four parameters of 40 bytes, cap 100: two per bucket, last parameters first.
  EXPECT_EQ(plan_buckets({40, 40, 40, 40}, 100, 100), (Plan{{3, 2}, {1, 0}}));
}

TEST(PlanBuckets, FirstCapSmaller) {
  EXPECT_EQ(plan_buckets({40, 40, 40, 40}, 100, 40), (Plan{{3}, {2, 1}, {0}}));
}

TEST(PlanBuckets, OversizeParameterGetsItsOwnBucket) {
  EXPECT_EQ(plan_buckets({10, 500, 10, 10}, 100, 100), (Plan{{3, 2}, {1}, {0}}));
  EXPECT_EQ(plan_buckets({500}, 100, 10), (Plan{{0}}));
}

TEST(PlanBuckets, ExactFitClosesTheBucket) {
  EXPECT_EQ(plan_buckets({50, 50, 50, 50}, 100, 100), (Plan{{3, 2}, {1, 0}}));
}

TEST(PlanBuckets, EmptyAndInvalid) {
  EXPECT_TRUE(plan_buckets({}, 100, 100).empty());
  EXPECT_THROW(plan_buckets({1}, 0, 100), std::invalid_argument);
  EXPECT_THROW(plan_buckets({1}, 100, -1), std::invalid_argument);
}

TEST(LocalCommunicator, LeavesTensorsUnchanged) {
  auto comm = make_local_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  const auto expected = torch::arange(7, torch::kFloat);
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin}) {
    auto t = expected.clone();
    auto work = comm->allreduce_async(t, op);
    EXPECT_TRUE(work->test());
    work->wait();
    EXPECT_TRUE(torch::equal(t, expected));
  }
  auto t = expected.clone();
  comm->broadcast(t, 0);
  EXPECT_TRUE(torch::equal(t, expected));
  EXPECT_THROW(comm->broadcast(t, 1), std::invalid_argument);
  EXPECT_THROW(comm->allreduce(torch::ones({4, 8}).slice(1, 0, 8, 2), ReduceOp::kSum), std::invalid_argument);
  EXPECT_NO_THROW(comm->allreduce(torch::ones({2, 3, 4, 5}).contiguous(torch::MemoryFormat::ChannelsLast),
                                  ReduceOp::kSum));  // dense, as the MPI and NCCL backends take
  comm->barrier();
}

// Conv + two Linear layers: 6 parameters of different sizes.
torch::nn::Sequential make_net() {
  torch::manual_seed(7);
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 3, /*kernel_size=*/3)),
                               torch::nn::Flatten(), torch::nn::Linear(3 * 4 * 4, 16),
                               torch::nn::ReLU(), torch::nn::Linear(16, 4));
}

torch::Tensor batch(int step) {
  torch::manual_seed(100 + step);
  return torch::randn({5, 1, 6, 6});
}

std::vector<int64_t> byte_sizes(const std::vector<torch::Tensor>& params) {
  std::vector<int64_t> bytes;
  for (const auto& p : params) bytes.push_back(p.numel() * static_cast<int64_t>(p.element_size()));
  return bytes;
}

constexpr int64_t kCap = 512;       // bytes: several buckets for this small net
constexpr int64_t kFirstCap = 128;  // bytes

// The local communicator under another world size, counting the allreduces asked of it:
// at size 2 the reducer launches one per bucket (the values stay the local ones).
class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(int size) : size_(size) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  std::unique_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op) override {
    ++allreduces;
    return local_->allreduce_async(tensor, op);
  }
  void broadcast(torch::Tensor tensor, int root) override { local_->broadcast(tensor, root); }
  void barrier() override {}
  std::vector<torch::Tensor> allgather(const torch::Tensor& mine) override { return local_->allgather(mine); }
  int allreduces = 0;

 private:
  int size_;
  std::unique_ptr<Communicator> local_ = make_local_communicator();
};

TEST(Reducer, NumBucketsMatchesThePlan) {
  auto net = make_net();
  auto comm = make_local_communicator();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  const auto plan = plan_buckets(byte_sizes(net->parameters()), kCap, kFirstCap);
  EXPECT_EQ(reducer.num_buckets(), plan.size());
  EXPECT_GT(reducer.num_buckets(), 2u);
}

TEST(Reducer, SameGradientsAsPlainBackward) {
  auto net = make_net();
  auto reference = make_net();
  auto comm = make_local_communicator();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  for (int step = 0; step < 3; ++step) {  // buckets are reused across steps
    reducer.zero_grad();
    reducer.prepare(/*sync=*/true);
    net->forward(batch(step)).square().sum().backward();
    reducer.finalize();

    reference->zero_grad();
    reference->forward(batch(step)).square().sum().backward();
    const auto got = net->parameters();
    const auto want = reference->parameters();
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(torch::equal(got[i].grad(), want[i].grad())) << "param " << i << " step " << step;
    }
  }
}

// The trace's view: each bucket launches once per synchronised backward, in index order, with
// its size in bytes, and is seen complete once; none while accumulating (sync = false).
TEST(Reducer, ObserverSeesEachBucketLaunchAndCompleteOnce) {
  struct Log final : BucketObserver {
    std::vector<std::pair<size_t, int64_t>> launched_;
    std::vector<size_t> completed_;
    void launched(size_t bucket, int64_t bytes) override { launched_.emplace_back(bucket, bytes); }
    void completed(size_t bucket) override { completed_.push_back(bucket); }
  } log;
  auto net = make_net();
  CountingCommunicator comm(/*size=*/2);
  Reducer reducer(net->parameters(), comm, kCap, kFirstCap);
  reducer.observe(&log);
  reducer.zero_grad();
  reducer.prepare(/*sync=*/false);
  net->forward(batch(0)).square().sum().backward();
  reducer.finalize();
  EXPECT_TRUE(log.launched_.empty() && log.completed_.empty());
  reducer.prepare(/*sync=*/true);
  net->forward(batch(1)).square().sum().backward();
  reducer.finalize();
  const auto flat = reducer.buckets();
  ASSERT_EQ(log.launched_.size(), flat.size());
  for (size_t b = 0; b < flat.size(); ++b) {
    EXPECT_EQ(log.launched_[b].first, b);
    EXPECT_EQ(log.launched_[b].second, flat[b].numel() * 4) << "float32 bytes";
  }
  auto seen = log.completed_;
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), flat.size());
  for (size_t b = 0; b < flat.size(); ++b) EXPECT_EQ(seen[b], b);
  reducer.observe(nullptr);  // off again: nothing more is told
  reducer.zero_grad();
  reducer.prepare(/*sync=*/true);
  net->forward(batch(2)).square().sum().backward();
  reducer.finalize();
  EXPECT_EQ(log.launched_.size(), flat.size());
}

// The gradients are the buckets themselves, laid out as their parameters (channels-last
// too), at addresses that never change: what a captured CUDA graph needs.
// A world of one: the average is the gradient, so no collective runs and no bucket is copied;
// the gradients are plain backward's bit for bit, and a missing one is still an error.
TEST(Reducer, WorldOfOneRunsNoCollective) {
  auto net = make_net();
  auto reference = make_net();
  CountingCommunicator comm(/*size=*/1);
  Reducer reducer(net->parameters(), comm, kCap, kFirstCap);
  struct Log final : BucketObserver {
    int events = 0;
    void launched(size_t, int64_t) override { ++events; }
    void completed(size_t) override { ++events; }
  } log;
  reducer.observe(&log);
  const auto flat = reducer.buckets();
  for (int step = 0; step < 2; ++step) {
    reducer.zero_grad();
    reducer.prepare(/*sync=*/true);
    net->forward(batch(step)).square().sum().backward();
    reducer.finalize();
    reference->zero_grad();
    reference->forward(batch(step)).square().sum().backward();
    for (size_t i = 0; i < net->parameters().size(); ++i)
      EXPECT_TRUE(torch::equal(net->parameters()[i].grad(), reference->parameters()[i].grad())) << i;
  }
  EXPECT_EQ(comm.allreduces, 0);
  EXPECT_EQ(log.events, 0);
  for (size_t b = 0; b < flat.size(); ++b) EXPECT_TRUE(flat[b].is_same(reducer.buckets()[b])) << "bucket " << b;
  reducer.prepare(/*sync=*/true);
  net->forward(batch(0)).sum().backward();  // every parameter takes part: no error
  reducer.finalize();
  CountingCommunicator two(/*size=*/2);
  Reducer counted(reference->parameters(), two, kCap, kFirstCap);
  counted.zero_grad();
  counted.prepare(/*sync=*/true);
  reference->forward(batch(0)).sum().backward();
  counted.finalize();
  EXPECT_EQ(two.allreduces, static_cast<int>(counted.num_buckets()));
}

TEST(Reducer, GradientsAreBucketViewsWithTheParametersStrides) {
  torch::manual_seed(7);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, /*kernel_size=*/3));
  {
    torch::NoGradGuard no_grad;
    conv->weight.set_data(conv->weight.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  ASSERT_FALSE(conv->weight.is_contiguous());
  auto comm = make_local_communicator();
  Reducer reducer(conv->parameters(), *comm, kCap, kFirstCap);
  std::vector<const void*> addresses;
  for (const auto& p : conv->parameters()) addresses.push_back(p.grad().data_ptr());
  for (int step = 0; step < 2; ++step) {
    reducer.zero_grad();
    reducer.prepare(/*sync=*/true);
    const auto x = torch::randn({5, 2, 6, 6}).contiguous(torch::MemoryFormat::ChannelsLast);
    conv->forward(x).square().sum().backward();
    reducer.finalize();
    const auto params = conv->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(params[i].grad().data_ptr(), addresses[i]) << "param " << i << " step " << step;
      EXPECT_EQ(params[i].grad().strides(), params[i].strides()) << "param " << i;
    }
  }
  EXPECT_TRUE(conv->weight.grad().is_contiguous(torch::MemoryFormat::ChannelsLast));
}

TEST(Reducer, AccumulationSumsMicroBatches) {
  auto net = make_net();
  auto reference = make_net();
  auto comm = make_local_communicator();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  for (int window = 0; window < 2; ++window) {  // the second window must start fresh
    reducer.zero_grad();
    reference->zero_grad();
    for (int micro = 0; micro < 3; ++micro) {
      reducer.prepare(/*sync=*/micro == 2);
      net->forward(batch(10 * window + micro)).square().sum().backward();
      reducer.finalize();  // a no-op after a local backward
      reference->forward(batch(10 * window + micro)).square().sum().backward();
    }
    const auto got = net->parameters();
    const auto want = reference->parameters();
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(torch::allclose(got[i].grad(), want[i].grad(), 1e-6, 1e-6))
          << "param " << i << " window " << window;
    }
  }
}

TEST(Reducer, OptimizerCanZeroAndStepTheBucketGrads) {
  auto net = make_net();
  auto comm = make_local_communicator();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    reducer.prepare(/*sync=*/true);
    net->forward(batch(step)).square().sum().backward();
    reducer.finalize();
    opt.step();
  }
  for (const auto& p : net->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Reducer, UnusedParameterIsAnError) {
  auto net = make_net();
  auto comm = make_local_communicator();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  reducer.prepare(/*sync=*/true);
  // Only the conv layer takes part: the Linear parameters get no gradient.
  net[0]->as<torch::nn::Conv2d>()->forward(batch(0)).sum().backward();
  try {
    reducer.finalize();
    FAIL() << "finalize() accepted a parameter without gradient";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("got no gradient"), std::string::npos) << e.what();
  }
}

TEST(Reducer, SecondBackwardWithoutPrepareIsAnError) {
  auto net = make_net();
  auto comm = make_local_communicator();
  Reducer reducer(net->parameters(), *comm, kCap, kFirstCap);
  reducer.prepare(/*sync=*/false);
  auto loss = net->forward(batch(0)).sum();
  loss.backward({}, /*retain_graph=*/true);
  EXPECT_THROW(loss.backward(), std::exception);
}

TEST(Reducer, HooksAreRemovedWithTheReducer) {
  auto net = make_net();
  auto comm = make_local_communicator();
  { Reducer reducer(net->parameters(), *comm, kCap, kFirstCap); }
  net->forward(batch(0)).sum().backward();  // would touch freed state if a hook remained
  for (const auto& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(Reducer, RejectsTensorsWithoutGrad) {
  auto comm = make_local_communicator();
  EXPECT_THROW(Reducer({torch::zeros({3})}, *comm, kCap, kFirstCap), std::invalid_argument);
}

}  // namespace
}  // namespace nin::dist
