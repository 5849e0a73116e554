// The run's part of each step, in the order the loop used to do it inline.
#include "run/after_step.h"

#include <algorithm>
#include <cmath>

#include "monitor/health.h"
#include "monitor/profile.h"
#include "monitor/replicas.h"
#include "monitor/trace.h"

namespace nin::run {

AfterStep::AfterStep(const config::Config& cfg, Run& run, monitor::Health& health, monitor::Trace* trace,
                     monitor::Profile* profile, model::NiN model, torch::optim::Optimizer& optimizer,
                     dist::Communicator& control, int64_t steps_per_epoch, LoopReads reads)
    : cfg_(cfg), run_(run), health_(health), trace_(trace), profile_(profile), model_(std::move(model)),
      optimizer_(optimizer), control_(control), steps_per_epoch_(steps_per_epoch), reads_(std::move(reads)) {}

void AfterStep::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  progress_.emplace(epoch + 1, cfg_.epochs, steps_per_epoch_, cfg_.log_every, cfg_.quiet, run_.lead());
  start_ = std::chrono::steady_clock::now();
  images_ = 0;
  recorded_loss_ = std::nan("");
}

void AfterStep::before_step(int64_t step_in_epoch) {
  if (trace_) trace_->start_step(step_in_epoch);
  if (profile_) profile_->start_step(step_in_epoch);
}

bool AfterStep::operator()(const data::Batch& batch, bool epoch_done) {
  if (trace_) trace_->end_step();
  if (profile_) profile_->end_step();
  images_ += batch.images();
  const int64_t global_step = run_.state().global_step;
  if (cfg_.check_every > 0 && global_step % cfg_.check_every == 0)
    monitor::check_replicas_sync(*model_, control_, global_step, epoch_);
  if (run_.stop_requested()) {  // every rank stops at the same step
    progress_->finish();
    run_.preempt(settle_for_checkpoint(), *model_, optimizer_);
    return false;
  }
  if (run_.step_checkpoint_due() && !epoch_done) {  // mid-epoch; the epoch's end writes its own
    monitor::Span checkpoint(trace_, monitor::Phase::kCheckpoint);
    run_.checkpoint_mid_epoch(settle_for_checkpoint(), *model_, optimizer_);
  }
  const int64_t in_epoch = batch.index() + 1;
  const bool record_due = in_epoch % cfg_.log_every == 0 || epoch_done;
  if (record_due) record();
  show_progress(in_epoch, record_due);
  return true;
}

checkpoint::EpochSums AfterStep::settle_for_checkpoint() {
  const auto sums = reads_.settle_sync();
  reads_.write_step_count();
  return sums;
}

double AfterStep::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

// Every log.every steps of the epoch and at its last: the verdict and the step record,
// together, on every rank. Between two of them the bar shows the last recorded loss.
void AfterStep::record() {
  const auto sums = reads_.settle_sync();
  recorded_loss_ = run_.record_step(sums, reads_.lr(run_.state().global_step - 1), steps_per_epoch_).train_loss;
}

void AfterStep::show_progress(int64_t in_epoch, bool recorded) {
  if (!progress_->due(in_epoch)) return;
  progress_->update(in_epoch, recorded_loss_, double(images_) * run_.world() / std::max(seconds(), 1e-9));
  const auto warning = recorded ? health_.watch_loss(recorded_loss_, run_.state().global_step) : "";
  if (!warning.empty()) {
    progress_->finish();
    run_.warn(warning);
  }
}

double AfterStep::end_steps() {
  const double epoch_s = seconds();
  if (profile_) profile_->end_epoch();  // after the clock: its device syncs and files are not the epoch's
  progress_->finish();
  return epoch_s;
}

}  // namespace nin::run
