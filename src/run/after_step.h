// What the run does after each optimizer step: the loop is data -> step -> after_step().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include <torch/optim/optimizer.h>

#include "checkpoint/train_state.h"
#include "config/config.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "model/nin.h"
#include "run/progress.h"
#include "run/run.h"

namespace nin::monitor {
class Health;
class Trace;
class Profile;
}  // namespace nin::monitor

namespace nin::run {

// The loop's reads at a record point, given by the trainer (the run sees no step or meter).
struct LoopReads {
  std::function<checkpoint::EpochSums()> settle_sync;  // the step's verdict, then the epoch's sums over the ranks
  std::function<void()> write_step_count;              // Adam's step count, as settled, into the optimizer
  std::function<double(int64_t)> lr;                   // the lr of a 0-based global step
};

// One per rank, for the whole run. Around each step: the trace's and the profile's step
// bounds; after it: the stop vote's outcome, the replica check, preemption, the mid-epoch
// checkpoint, the record every log.every steps, the progress line and the loss's health.
class AfterStep {
 public:
  AfterStep(const config::Config& cfg, Run& run, monitor::Health& health, monitor::Trace* trace,
            monitor::Profile* profile, model::NiN model, torch::optim::Optimizer& optimizer,
            dist::Communicator& control, int64_t steps_per_epoch, LoopReads reads);

  void start_epoch(int64_t epoch);  // 0-based
  // Step `step_in_epoch` opens, before its data: the trace's and the profile's windows.
  void before_step(int64_t step_in_epoch);
  // Returns false when the ranks agreed to stop: the checkpoint is written.
  bool operator()(const data::Batch& batch, bool epoch_done);
  // The epoch's steps are over: returns their wall seconds, then closes the profile's
  // window and the progress line.
  double end_steps();

 private:
  checkpoint::EpochSums settle_for_checkpoint();  // the sums, with Adam's step count written
  double seconds() const;  // since start_epoch()
  void record();
  void show_progress(int64_t in_epoch, bool recorded);

  const config::Config& cfg_;
  Run& run_;
  monitor::Health& health_;
  monitor::Trace* trace_;
  monitor::Profile* profile_;
  model::NiN model_;
  torch::optim::Optimizer& optimizer_;
  dist::Communicator& control_;
  const int64_t steps_per_epoch_;
  LoopReads reads_;
  int64_t epoch_ = 0;
  std::optional<Progress> progress_;
  std::chrono::steady_clock::time_point start_;
  int64_t images_ = 0;  // this rank's, this epoch's session
  double recorded_loss_ = 0;  // the ranks' mean loss of the epoch so far, at the last record
};

}  // namespace nin::run
