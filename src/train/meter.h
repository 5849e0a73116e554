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

// Accumulates without a host read, in tensors made once for the whole run (a captured
// graph keeps their addresses): a step's micro-batches add to the step's sums, which enter
// the epoch's only where the step's `applied` flag is true (a skipped step counts in no
// metric).
class EpochMeter {
 public:
  explicit EpochMeter(const torch::Device& device);
  void reset();  // a new epoch
  void begin_step();
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels);  // one micro-batch
  void commit_step(const torch::Tensor& applied, int64_t images);  // applied: 0-dim bool on the device
  double running_loss() const;  // this rank's mean so far; reads the device (progress lines only)
  EpochTotals sum_over_ranks(dist::Communicator& control) const;  // reads the device

 private:
  torch::Tensor sums_;  // double [3] on the device: loss, correct, seen; the epoch so far
  torch::Tensor step_;  // double [3]: the step in progress
};

}  // namespace nin::train
