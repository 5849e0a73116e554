// The epoch's training loss and accuracy: per-rank sums kept on the device, summed over ranks on demand.
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "dist/communicator.h"
#include "checkpoint/train_state.h"

namespace nin::train {

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
  EpochSums sum_over_ranks(dist::Communicator& control) const;  // reads the device

 private:
  torch::Tensor sums_;  // double [EpochSums::kFields] on the device, in its order: the epoch so far
  torch::Tensor step_;  // the same for the step in progress
};

}  // namespace nin::train
