// The step StaticStep replaced (host lr, host finite check, torch::optim), and the
// StaticStep itself, trained side by side on a slice of the real FashionMNIST: shared by
// the unit test (one process) and the MPI test (2 ranks).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/nn/utils/clip_grad.h>

#include "config/config.h"
#include "data/fashion_mnist.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/reducer.h"
#include "infer/model_io.h"
#include "monitor/fault.h"
#include "train/meter.h"
#include "train/optim.h"
#include "train/step.h"
#include "util/host_reads.h"

namespace nin::train::reference_step {

namespace F = torch::nn::functional;
inline constexpr const char* kRealDir = "/usr/share/datasets/fashion-mnist";
constexpr int64_t kImages = 64, kBatch = 16;  // 4 steps an epoch
constexpr int64_t kEpochs = 2;

inline config::Config small(const std::string& optimizer) {
  config::Config c;
  c.data_dir = kRealDir;
  c.resize = 67;  // the network's minimum: fast
  c.train_limit = kImages;
  c.batch_size = kBatch;
  c.epochs = kEpochs;
  c.optimizer = optimizer;
  c.lr = optimizer == "sgd" ? 0.05 : 1e-3;
  c.threads = 1;
  return c;
}

inline data::Loader make_loader(const config::Config& c, const dist::Communicator& comm) {
  const auto split = data::load_split(c.data_dir, /*train=*/true, c.num_classes, c.train_limit);
  const int64_t local = c.batch_size / comm.size();
  return data::Loader(split, data::LoaderOptions{local, local / c.accumulate, comm.rank(), comm.size(), c.seed,
                                                 infer::batch_options(c), infer::augment_options(c)});
}

struct Trained {
  model::NiN model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t skipped = 0;
  int64_t first_bad = -1;
  std::vector<rundir::GradNorms> norms;  // per epoch
};

inline Trained fresh(const config::Config& c) {
  torch::manual_seed(c.seed);
  Trained t;
  t.model = infer::make_model(c);
  t.optimizer = make_optimizer(c, t.model->parameters());
  return t;
}

// The global L2 norm as clip_grad_norm_ takes it, written out with Tensor::norm, on the host.
inline double host_norm(const model::NiN& model) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : model->parameters()) norms.push_back(p.grad().norm(2));
  return torch::stack(norms).norm(2).item<double>();
}

// The step as the loop took it before: gradients into .grad, averaged over the ranks, a host
// read of their sum, lr_at on the host, torch::optim's own step(); a NaN loss on rank 0 at
// 0-based step `nan_step`. Label smoothing by cross_entropy's option; clipping by
// torch::nn::utils::clip_grad_norm_ before the step, a non-finite norm skipping it.
inline Trained reference(const config::Config& c, int64_t nan_step, dist::Communicator& comm) {
  Trained t = fresh(c);
  auto loader = make_loader(c, comm);
  int64_t g = 0;
  const auto loss_options = F::CrossEntropyFuncOptions().label_smoothing(c.label_smoothing);
  for (int64_t e = 0; e < c.epochs; ++e) {
    loader.start(e);
    double norm_sum = 0, norm_max = 0;
    int64_t applied = 0;
    while (!loader.done()) {
      const auto batch = loader.next();
      t.optimizer->zero_grad();
      for (int64_t m = 0; m < batch.micro_batches(); ++m) {
        const auto micro = batch.micro(m);
        torch::manual_seed(dropout_seed(c.seed, g, micro.offset, comm.rank()));
        auto loss = F::cross_entropy(t.model->forward(micro.x), micro.y, loss_options);
        if (g == nan_step && comm.rank() == 0) loss = loss * std::nan("");
        (loss * micro.weight).backward();
      }
      for (const auto& p : t.model->parameters()) comm.allreduce(p.grad(), dist::ReduceOp::kAvg);
      torch::Tensor total;
      for (const auto& p : t.model->parameters()) total = total.defined() ? total + p.grad().sum() : p.grad().sum();
      bool finite = std::isfinite(total.item<double>());
      const double norm = finite ? host_norm(t.model) : 0.0;
      if (finite && c.clip_grad_norm > 0) {
        EXPECT_EQ(torch::nn::utils::clip_grad_norm_(t.model->parameters(), c.clip_grad_norm), norm);
        finite = std::isfinite(norm);
      }
      if (finite) {
        norm_sum += norm, norm_max = std::max(norm_max, norm), ++applied;
        for (auto& group : t.optimizer->param_groups()) group.options().set_lr(lr_at(c, g, loader.steps_per_epoch()));
        t.optimizer->step();
      } else {
        t.skipped += 1;
        if (t.first_bad < 0) t.first_bad = g;
      }
      ++g;
    }
    t.norms.push_back({norm_sum / std::max<double>(applied, 1), norm_max});
  }
  return t;
}

// StaticStep, settled only at each epoch's end, with NIN_FAULT's NaN on rank 0 at
// `nan_step`; several gradient buckets.
inline Trained static_steps(const config::Config& c, int64_t nan_step, dist::Communicator& comm) {
  Trained t = fresh(c);
  auto loader = make_loader(c, comm);
  dist::Reducer reducer(t.model->parameters(), comm, 1 << 20, 1 << 18);
  EpochMeter meter(torch::kCPU);
  const std::string fault = "nan:" + std::to_string(nan_step + 1) + ":0";
  setenv("NIN_FAULT", fault.c_str(), 1);
  const monitor::Fault faults = monitor::Fault::from_env();
  unsetenv("NIN_FAULT");
  StaticStep step(c, comm.rank(), t.model, *t.optimizer, reducer, meter, faults, loader.steps_per_epoch(), 0,
                  torch::kCPU);
  int64_t g = 0;
  for (int64_t e = 0; e < c.epochs; ++e) {
    loader.start(e);
    meter.reset();
    const int64_t reads = host_reads();
    while (!loader.done()) step.take(loader.next(), g++);
    EXPECT_EQ(host_reads(), reads) << "a step read the device";
    const Verdict v = step.settle_sync();
    EXPECT_EQ(host_reads(), reads + 1);
    step.write_step_count();
    t.norms.push_back(meter.grad_norms_sync());
    t.skipped += v.skipped;
    if (t.first_bad < 0) t.first_bad = v.first;
  }
  return t;
}

inline void expect_bitwise_equal(const Trained& a, const Trained& b) {
  const auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(torch::equal(pa[i].value(), pb[i].value())) << pa[i].key() << " differs";
  EXPECT_EQ(adam_steps(*a.optimizer), adam_steps(*b.optimizer));
  EXPECT_EQ(a.skipped, b.skipped);
  EXPECT_EQ(a.first_bad, b.first_bad);
  ASSERT_EQ(a.norms.size(), b.norms.size());
  for (size_t e = 0; e < a.norms.size(); ++e) {
    EXPECT_EQ(a.norms[e].mean, b.norms[e].mean) << "epoch " << e;
    EXPECT_EQ(a.norms[e].max, b.norms[e].max) << "epoch " << e;
  }
}

}  // namespace nin::train::reference_step
