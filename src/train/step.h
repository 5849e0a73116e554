// The training step: forward, backward, gradient allreduce and update, with no host read.
#pragma once

#include <cstdint>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "config/config.h"
#include "data/loader.h"
#include "dist/reducer.h"
#include "model/nin.h"
#include "monitor/fault.h"
#include "train/meter.h"
#include "train/optim.h"

namespace nin::monitor {
class Trace;
}  // namespace nin::monitor

namespace nin::train {

// Non-finite steps since the last settle_sync().
struct Verdict {
  int64_t skipped = 0;  // steps whose averaged gradient held a NaN or an Inf: not applied
  int64_t first = -1;   // 0-based global step of the first of them; -1 when none
};

// Every value a step reads or writes lives on the training device: the step count, the lr
// and Adam's bias corrections (looked up in a DeviceSchedule), the finite flag that gates
// the update, the non-finite count, the meter's sums. So the same step runs eagerly or
// replayed from a CUDA graph, and makes no sync (util/host_reads.h says where the loop may).
// The lr's one home is the DeviceSchedule (lr_at's values): torch::optim's param groups must
// hold one, and theirs mirrors the schedule's; one set there is an error (std::logic_error
// at the next settle_sync), not silently ignored.
class StaticStep {
 public:
  // `first_step`: the global step the run resumes at; Adam's count comes from `optimizer`.
  StaticStep(const config::Config& c, int rank, model::NiN model, torch::optim::Optimizer& optimizer,
             dist::Reducer& reducer, EpochMeter& meter, const monitor::Fault& fault, int64_t steps_per_epoch,
             int64_t first_step, const torch::Device& device);

  // Global step `global_step` (0-based; the host counts too) on this rank's `batch`.
  void take(const data::Batch& batch, int64_t global_step);
  // Reads and clears the non-finite record, and reads Adam's step count with it.
  Verdict settle_sync();
  // Writes Adam's step count (the updates applied) as of the last settle_sync() into the
  // optimizer's state, so that a checkpoint taken after that settle holds it. No device read.
  void write_step_count();
  // The same body with no host-side seeding: a CUDA graph seeds its generator before each
  // replay instead (GraphStep), since a capture refuses torch::manual_seed.
  void captured_body(const torch::Tensor& x, const torch::Tensor& y);
  // Spans of forward, backward, the finalize wait and the update go to `trace` while its
  // window is open; nullptr (the default) records nothing.
  void trace(monitor::Trace* trace) { trace_ = trace; }

 private:
  void forward_backward(const torch::Tensor& x, const torch::Tensor& y, double weight, int64_t global_step);
  void update(int64_t images);
  // The fused kernels (fused_update.h) where they run; after a refusal, _foreach for good.
  bool fused(const UpdateScalars& scalars, const torch::Tensor& t);
  void mirror_lr(int64_t steps_run);  // the param groups' lr: the schedule's of the last step run

  const config::Config& cfg_;
  const int rank_;
  model::NiN model_;
  torch::optim::Optimizer& optimizer_;
  dist::Reducer& reducer_;
  EpochMeter& meter_;
  const monitor::Fault& fault_;
  const torch::Device device_;
  const int64_t steps_per_epoch_;
  DeviceSchedule schedule_;
  double mirrored_lr_ = 0;  // the lr mirror_lr() wrote into the param groups
  torch::Tensor step_;       // int64 0-dim: the global step being run
  torch::Tensor applied_;    // int64 0-dim: updates applied so far (Adam's t)
  int64_t settled_applied_ = 0;  // applied_ as the last settle_sync() read it
  torch::Tensor skipped_;    // int64 0-dim: non-finite steps since the last settle_sync
  torch::Tensor first_bad_;  // int64 0-dim: the first of them, or -1
  monitor::Trace* trace_ = nullptr;
  bool fused_ = true;  // false once fused_update declined or refused
};

// The loss the step minimises: cross-entropy with train.label_smoothing, as PyTorch's
// cross_entropy(label_smoothing=...): (1-e)*(-log p_y) + e*mean_k(-log p_k). At e = 0 it is
// the plain cross-entropy, bit for bit.
torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing);

// Dropout's seed for one micro-batch: a pure function of the run's seed and the position,
// so a resumed run draws the same masks as an uninterrupted one.
uint64_t dropout_seed(uint64_t seed, int64_t step, int64_t micro, int rank);

}  // namespace nin::train
