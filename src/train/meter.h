// The epoch's training loss and accuracy: per-rank sums kept on the device, summed over ranks on demand.
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "dist/communicator.h"

namespace nin::train {

// Sums over images (all ranks, or one rank where said).
struct EpochTotals {
  double loss_sum = 0;  // cross-entropy summed over images
  double correct = 0;   // images classified right
  double seen = 0;      // images
};

// Accumulates without a host sync: a step's micro-batches add to the step's sums, which
// enter the epoch's only when the step is applied (a skipped step counts in no metric).
class EpochMeter {
 public:
  explicit EpochMeter(const torch::Device& device);
  void begin_step();
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels);  // one micro-batch
  void commit_step(int64_t images);
  int64_t seen() const { return seen_; }
  double running_loss() const;  // this rank's mean so far; syncs the host
  EpochTotals sum_over_ranks(dist::Communicator& control) const;

 private:
  torch::Tensor loss_sum_, correct_;  // epoch so far: double and int64, on the device
  torch::Tensor step_loss_, step_correct_;
  int64_t seen_ = 0;  // this rank's images in applied steps
};

}  // namespace nin::train
