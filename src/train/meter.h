// The epoch's training loss, accuracy and gradient norms: kept on the device, read on demand.
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "checkpoint/train_state.h"
#include "dist/communicator.h"
#include "run/progress.h"

namespace nin::train {

// Accumulates without a sync (util/host_reads.h), in tensors made once for the whole run (a captured
// graph keeps their addresses): a step's micro-batches add to the step's sums, which enter
// the epoch's only where the step's `applied` flag is true (a skipped step counts in no
// metric).
class EpochMeter {
 public:
  explicit EpochMeter(const torch::Device& device);
  void reset();  // a new epoch
  void begin_step();
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels);  // one micro-batch
  // applied: 0-dim bool on the device; grad_norm: the step's 0-dim gradient norm there.
  void commit_step(const torch::Tensor& applied, int64_t images, const torch::Tensor& grad_norm);
  checkpoint::EpochSums sum_over_ranks_sync(dist::Communicator& control) const;
  rundir::GradNorms grad_norms_sync() const;  // this rank's, which are every rank's

 private:
  torch::Tensor sums_;  // double [EpochSums::kFields] on the device, in its order: the epoch so far
  torch::Tensor step_;  // the same for the step in progress
  torch::Tensor norms_;  // double [3] on the device: the epoch's norm sum, applied steps, max norm
};

}  // namespace nin::train
