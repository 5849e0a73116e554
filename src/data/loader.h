// The training loader: this rank's shard of each epoch, cut into steps and micro-batches.
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "data/augment.h"
#include "data/batch.h"
#include "data/fashion_mnist.h"
#include "data/sampler.h"

namespace nin::data {

struct LoaderOptions {
  int64_t local_batch = 128;  // images per rank per optimizer step
  int64_t micro_batch = 128;  // images per rank per forward/backward (gradient accumulation)
  int rank = 0;
  int world = 1;
  uint64_t seed = 42;         // the epoch's permutation and the augmentation's draws
  BatchOptions batch;
  AugmentOptions augment;     // training images only
};

// One micro-batch, ready for the network.
struct MicroBatch {
  torch::Tensor x;     // [B, 1, resize, resize] float, on the split's device
  torch::Tensor y;     // [B] int64
  int64_t offset = 0;  // images of the step before this micro-batch
  double weight = 1;   // B / images in the step: loss * weight sums to the step's mean
  bool last = false;   // the step's last: its backward starts the gradient allreduce
};

// One optimizer step's images on this rank. Micro-batches are made on demand, so
// accumulation holds one of them in memory at a time.
class Batch {
 public:
  Batch(const Split& split, torch::Tensor indices, int64_t index, int64_t micro_batch, const LoaderOptions& options,
       uint64_t seed);
  int64_t index() const { return index_; }  // step within the epoch, 0-based
  int64_t images() const { return indices_.size(0); }
  int64_t micro_batches() const { return (images() + micro_batch_ - 1) / micro_batch_; }
  MicroBatch micro(int64_t m) const;  // gathered and resized now

 private:
  Split split_;
  torch::Tensor indices_;  // into the split, on its device
  int64_t index_;
  int64_t micro_batch_;
  BatchOptions batch_;
  AugmentOptions augment_;
  uint64_t seed_;  // of (run seed, epoch, step, rank): the augmentation's draws
};

// Steps through the epochs: a DistributedSampler shard per epoch, local_batch images a
// step (the last step of an epoch may be shorter). A pure function of the options and
// (epoch, step), augmentation included, so a run resumed mid-epoch sees the same batches.
class Loader {
 public:
  Loader(Split split, const LoaderOptions& options);
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t dataset_size() const { return split_.size(); }
  const BatchOptions& batch_options() const { return options_.batch; }

  void start(int64_t epoch, int64_t first_step = 0);  // position before step `first_step`
  bool done() const { return next_step_ >= steps_per_epoch_; }
  Batch next();

 private:
  Split split_;
  LoaderOptions options_;
  DistributedSampler sampler_;
  int64_t steps_per_epoch_;
  torch::Tensor shard_;  // this epoch's indices, on the split's device
  int64_t epoch_ = 0;
  int64_t next_step_ = 0;
};

}  // namespace nin::data
