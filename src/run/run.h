// A run around its loop: the run directory, resume, checkpoints, preemption, the epoch's record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "dist/communicator.h"
#include "infer/evaluate.h"
#include "model/nin.h"
#include "checkpoint/train_state.h"
#include "run/progress.h"
#include "run/lock.h"

namespace nin::run {

// What one epoch measured beyond its totals; the Run adds test results and writes the record.
struct EpochFacts {
  double lr = 0;
  double epoch_s = 0;      // training part of the epoch, wall time
  double comm_wait_s = 0;  // rank 0's host seconds blocked on the gradient allreduce; NaN on a GPU
  int64_t peak_mem_bytes = 0;  // the largest of the ranks' peaks
  double flops_per_image = 0;  // training FLOPs
  double peak_flops = rundir::kNotEvaluated;  // one device's dense peak FLOP/s; NaN when unknown
};

// Every rank holds one; rank 0 alone prints and writes files. `control` carries its small
// CPU messages (rank 0's verdicts, the stop decision).
class Run {
 public:
  Run(const config::Config& config, int rank, int world, dist::Communicator& control);
  // Rank 0 creates the run directory, locks it for the run's lifetime (a second job on it
  // gets an InputError naming the holder), writes config.toml and drops the records of
  // steps.jsonl and metrics.jsonl/.csv past the checkpoint it resumes from (all of them when
  // --resume auto finds none); every rank learns whether it could (InputError otherwise).
  // One run per directory: a start from scratch (no --resume) where the directory holds
  // another run's files is an InputError naming it, what it holds and the ways on, before
  // any file is touched; with `overwrite`, those files are moved aside first. Called once the
  // inputs (checkpoint, data) were read, so that bad input leaves no file behind.
  void create_dir(bool overwrite);

  bool lead() const { return rank_ == 0; }
  int world() const { return world_; }
  void say(const std::string& line) const;  // a line on rank 0's stdout
  void warn(const std::string& text) const; // "warning: text" on rank 0's stderr
  const checkpoint::TrainState& state() const { return state_; }
  const std::filesystem::path& dir() const { return dir_; }

  // `resume`: "" (fresh), "auto" (newest checkpoint that verifies, if any) or a path. Rank 0
  // picks the checkpoint and every rank confirms it loaded the same file (step and checksum),
  // or every rank throws InputError naming the rank that saw another. Restores model and
  // optimizer, and where the loop continues.
  void resume(const std::string& resume, model::NiN& model, torch::optim::Optimizer& optimizer);

  // An optimizer step (applied or skipped) ended as step `step_in_epoch` of its epoch.
  void step_done(int64_t step_in_epoch);
  // The training figures of the epoch so far (this session's `session` sums over every
  // rank, plus a resumed epoch's) at the fractional epoch of this step; rank 0 appends them
  // to steps.jsonl. Returns them on every rank.
  rundir::StepRecord record_step(const checkpoint::EpochSums& session, double lr, int64_t steps_per_epoch) const;
  // Preemption, agreed on by every rank at each step: true everywhere when any rank got
  // SIGTERM or SIGUSR1. The vote starts before the step (a non-blocking max allreduce) and
  // is read after it, so no step waits for it. Then preempt() checkpoints mid-epoch, the
  // epoch's totals so far included, and returns on every rank once the checkpoint exists.
  void start_stop_vote();
  bool stop_requested();
  void preempt(const checkpoint::EpochSums& epoch_so_far, const torch::nn::Module& model,
               const torch::optim::Optimizer& optimizer);
  // checkpoint.every_steps: true after each N-th optimizer step. Then checkpoint_mid_epoch()
  // (a collective: the epoch's totals so far) has rank 0 write a checkpoint as preempt() does,
  // and the loop goes on; the other ranks wait for the write only at their next collective.
  bool step_checkpoint_due() const;
  void checkpoint_mid_epoch(const checkpoint::EpochSums& epoch_so_far, const torch::nn::Module& model,
                            const torch::optim::Optimizer& optimizer) const;
  // The epoch's record (sums of this session plus those carried over a resume, and the
  // held-out splits evaluated this epoch: null when not): its line, the scheduled
  // checkpoint, best.nin when the validation accuracy is the best yet (checkpoint.keep_best),
  // metrics.jsonl and metrics.csv, and confusion.json when a split was evaluated (the test
  // set's, else the validation split's). Returns the record.
  rundir::EpochRecord end_epoch(const checkpoint::EpochSums& session, const rundir::GradNorms& norms,
                                const infer::EvalResult* val, const infer::EvalResult* test, const EpochFacts& timing,
                                const torch::nn::Module& model, const torch::optim::Optimizer& optimizer);
  // The last words: a resume of a run that had already finished says so, and the final line
  // (metrics.jsonl's last record, the test set's `test_images` and `val_images` held out, the
  // page's absolute path) follows when the test set was evaluated at the end.
  void finish(int64_t test_images, int64_t val_images) const;

 private:
  std::string prepare_dir(bool overwrite);  // rank 0's part of create_dir(): "" or why not
  void checkpoint(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                  const checkpoint::TrainState& state) const;
  void write_best(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer) const;
  checkpoint::TrainState with_sums(const checkpoint::EpochSums& epoch_so_far) const;  // state_ plus a partial epoch

  const config::Config& config_;
  int rank_, world_;
  dist::Communicator& control_;
  std::filesystem::path dir_;
  std::unique_ptr<RunLock> lock_;  // rank 0's, from create_dir() on
  checkpoint::TrainState state_;
  bool resumed_finished_ = false;  // resumed from a checkpoint of a run that had ended
  bool resuming_ = false;          // --resume auto, or a checkpoint of this directory: its run goes on
  int64_t stop_signal_ = 0;        // the signal the ranks agreed to stop on
  torch::Tensor vote_;             // int64 [1]: this rank's signal, then the largest
  std::unique_ptr<dist::Work> vote_work_;
};

}  // namespace nin::run
