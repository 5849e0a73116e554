// Run directory, resume, checkpoints, preemption and the per-epoch record.
#include "run/run.h"

#include <unistd.h>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "dist/agree.h"
#include "format/atomic_file.h"
#include "run/files.h"
#include "run/info.h"
#include "run/signals.h"
#include "rundir/paths.h"
#include "util/error.h"

namespace nin::run {
namespace fs = std::filesystem;
namespace {

// The checkpoint `resume` names, as rank 0 sees it; null when "auto" finds none to resume from.
std::unique_ptr<checkpoint::CheckpointFile> find_checkpoint(const std::string& resume, const fs::path& dir,
                                                            const Run& run) {
  if (resume != "auto") return std::make_unique<checkpoint::CheckpointFile>(checkpoint::read_checkpoint(resume));
  std::vector<std::string> warnings;
  auto ck = checkpoint::newest_valid_checkpoint(dir, warnings);
  for (const auto& w : warnings) run.warn(w);
  if (!ck && !checkpoint::list_checkpoints(dir).empty())
    throw InputError(dir.string() + ": every checkpoint is corrupt; nothing to resume from");
  if (!ck) run.say("no checkpoint in " + dir.string() + ": starting from scratch");
  return ck;
}

// What rank 0 chose, as every rank receives it: {found (0 none, 1 a file, -1 an error),
// global step, checksum's high and low 32 bits}.
torch::Tensor choice_of(int64_t found, const checkpoint::CheckpointFile* ck) {
  const uint64_t sum = ck ? ck->checksum : 0;
  return torch::tensor({found, ck ? ck->state.global_step : int64_t{0}, static_cast<int64_t>(sum >> 32),
                        static_cast<int64_t>(sum & 0xffffffffULL)}, torch::kInt64);
}

// One checkpoint for all ranks: rank 0 picks it and broadcasts its step and checksum; every
// other rank loads the same file and checks both. Null everywhere when rank 0 found none.
std::unique_ptr<checkpoint::CheckpointFile> agree_on_checkpoint(const std::string& resume, const fs::path& dir,
                                                                const Run& run, dist::Communicator& control) {
  std::unique_ptr<checkpoint::CheckpointFile> ck;
  std::string error;
  if (run.lead()) {
    try {
      ck = find_checkpoint(resume, dir, run);
    } catch (const InputError& e) {
      error = e.what();
    }
  }
  auto choice = run.lead() ? choice_of(error.empty() ? (ck ? 1 : 0) : -1, ck.get()) : choice_of(0, nullptr);
  control.broadcast(choice, /*root=*/0);
  const auto c = choice.accessor<int64_t, 1>();
  if (c[0] < 0) throw InputError(run.lead() ? error : "rank 0 could not read the checkpoint to resume from");
  const uint64_t checksum = (static_cast<uint64_t>(c[2]) << 32) | static_cast<uint64_t>(c[3]);
  const fs::path path = resume == "auto" ? dir / rundir::checkpoint_name(c[1]) : fs::path(resume);
  std::string seen;  // what this rank found instead, "" when it agrees
  if (!run.lead() && c[0] == 1) {
    try {
      ck = std::make_unique<checkpoint::CheckpointFile>(checkpoint::read_checkpoint(path));
      if (ck->checksum != checksum || ck->state.global_step != c[1])
        seen = "a different file (global step " + std::to_string(ck->state.global_step) + ")";
    } catch (const InputError& e) {
      seen = e.what();
    }
    if (!seen.empty())
      std::cerr << "nin-dist: rank " << control.rank() << ": cannot resume from " << path.string() << ": " << seen
                << std::endl;
  }
  const int64_t odd = dist::max_over_ranks(control, seen.empty() ? -1 : control.rank());
  if (odd >= 0)
    throw InputError("rank " + std::to_string(odd) + " does not see the checkpoint rank 0 resumes from (" +
                     path.string() + ", global step " + std::to_string(c[1]) +
                     "): every rank must read the same run directory");
  return c[0] == 1 ? std::move(ck) : nullptr;
}

// Why a start from scratch refuses `dir`, and the three ways on.
std::string another_run(const fs::path& dir) {
  return "run directory " + dir.string() + " holds another run (" + describe_run(dir) +
         "); nothing in it was changed. One run per directory: continue that run with --resume auto, "
         "start this one elsewhere with --run-dir OTHER_DIR, or start over here with --overwrite, which moves "
         "the earlier run's files into " + (dir / rundir::kPreviousPattern).string() + "/";
}

std::string resume_position(const checkpoint::TrainState& s) {
  return s.step_in_epoch == 0 ? " at the end of epoch " + std::to_string(s.epoch)
                              : " in epoch " + std::to_string(s.epoch + 1) + " after step " + std::to_string(s.step_in_epoch);
}

}  // namespace

Run::Run(const config::Config& config, int rank, int world, dist::Communicator& control)
    : config_(config), rank_(rank), world_(world), control_(control), dir_(config.run_dir) {}

void Run::create_dir(bool overwrite) {
  const std::string error = lead() ? prepare_dir(overwrite) : "";
  if (dist::any_rank(control_, !error.empty()))
    throw InputError(lead() ? error : "rank 0 could not prepare run.dir = " + config_.run_dir);
}

std::string Run::prepare_dir(bool overwrite) {
  const std::string& name = config_.run_dir;
  if (!resuming_ && !overwrite && !run_files(dir_).empty()) return another_run(dir_);  // nothing touched yet
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return "cannot create run directory " + name + ": " + ec.message();
  if (::access(name.c_str(), W_OK) != 0) return "run directory " + name + " is not writable";
  try {
    lock_ = std::make_unique<RunLock>(dir_);
    // Again under the lock: another job may have written here since the look above.
    if (const auto earlier = run_files(dir_); !resuming_ && !earlier.empty()) {
      if (!overwrite) return another_run(dir_);
      const fs::path to = aside_dir(dir_);
      move_aside(dir_, earlier, to);
      say("--overwrite: moved the earlier run's " + std::to_string(earlier.size()) + " files to " + to.string());
    }
    format::write_atomically(dir_ / rundir::kConfig, {config::to_toml(config_)}, "config");
    rundir::trim_steps(dir_, state_.global_step);  // a resume records the later steps and epochs again
    rundir::trim_metrics(dir_, state_.epoch);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void Run::say(const std::string& line) const {
  if (lead()) std::cout << line << std::endl;
}

void Run::warn(const std::string& text) const {
  if (lead()) std::cerr << "warning: " << text << std::endl;
}

void Run::resume(const std::string& resume, model::NiN& model, torch::optim::Optimizer& optimizer) {
  if (resume.empty()) return;
  // A checkpoint from another folder starts this directory's run from it: like a start from
  // scratch, it may not write beside another run.
  std::error_code ec;
  const fs::path from = fs::path(resume).parent_path();
  resuming_ = resume == "auto" || fs::equivalent(from.empty() ? fs::path(".") : from, dir_, ec);
  const auto ck = agree_on_checkpoint(resume, dir_, *this, control_);
  if (!ck) return;
  if (ck->optimizer != config_.optimizer)
    throw InputError(ck->path.string() + ": written with train.optimizer = \"" + ck->optimizer +
                     "\", the config says \"" + config_.optimizer + "\"");
  checkpoint::restore(*ck, *model, &optimizer);
  state_ = ck->state;
  resumed_finished_ = state_.epoch >= config_.epochs;
  say("resumed from " + ck->path.string() + resume_position(state_) + ", global step " +
      std::to_string(state_.global_step) + " (written by " + std::to_string(ck->world_size) + " ranks)");
}

void Run::step_done(int64_t step_in_epoch) {
  ++state_.global_step;
  state_.step_in_epoch = step_in_epoch;
}

rundir::StepRecord Run::record_step(const checkpoint::EpochSums& session, double lr, int64_t steps_per_epoch) const {
  const checkpoint::EpochSums sums = with_sums(session).sums;
  const rundir::StepRecord record{state_.epoch + double(state_.step_in_epoch) / double(steps_per_epoch), state_.global_step,
                          sums.mean_loss(), sums.accuracy(), lr};
  if (lead()) rundir::append_step(dir_, record);
  return record;
}

void Run::start_stop_vote() {
  vote_ = torch::tensor({static_cast<int64_t>(stop_signal())}, torch::kInt64);
  vote_work_ = control_.allreduce_async(vote_, dist::ReduceOp::kMax);
}

bool Run::stop_requested() {
  vote_work_->wait();
  vote_work_.reset();
  stop_signal_ = vote_.item<int64_t>();
  return stop_signal_ != 0;
}

checkpoint::TrainState Run::with_sums(const checkpoint::EpochSums& epoch_so_far) const {
  checkpoint::TrainState s = state_;
  s.sums += epoch_so_far;
  return s;
}

void Run::preempt(const checkpoint::EpochSums& epoch_so_far, const torch::nn::Module& model,
                  const torch::optim::Optimizer& optimizer) {
  state_ = with_sums(epoch_so_far);
  if (lead()) {
    checkpoint(model, optimizer, state_);
    std::cout << "signal " << stop_signal_ << ": stopped at epoch " << state_.epoch + 1 << ", step "
              << state_.step_in_epoch << "; checkpoint " << (dir_ / rundir::checkpoint_name(state_.global_step)).string()
              << "; resume with --resume auto" << std::endl;
  }
  control_.barrier();  // the checkpoint exists before any rank exits
}

bool Run::step_checkpoint_due() const {
  return config_.checkpoint_every_steps > 0 && state_.global_step % config_.checkpoint_every_steps == 0;
}

// No barrier: rank 0 alone writes, and the others meet it at the next step's allreduce.
void Run::checkpoint_mid_epoch(const checkpoint::EpochSums& epoch_so_far, const torch::nn::Module& model,
                               const torch::optim::Optimizer& optimizer) const {
  if (lead()) checkpoint(model, optimizer, with_sums(epoch_so_far));
}

rundir::EpochRecord Run::end_epoch(const checkpoint::EpochSums& session, const rundir::GradNorms& norms,
                                   const infer::EvalResult* val, const infer::EvalResult* test,
                                   const EpochFacts& timing, const torch::nn::Module& model,
                                   const torch::optim::Optimizer& optimizer) {
  const checkpoint::EpochSums epoch = with_sums(session).sums;
  rundir::EpochRecord record;
  record.epoch = state_.epoch + 1;
  record.step = state_.global_step;
  record.train_loss = epoch.mean_loss();
  record.train_acc = epoch.accuracy();
  if (val) record.val_loss = val->loss, record.val_acc = val->accuracy, record.val_class_acc = val->class_accuracy();
  if (test) record.test_loss = test->loss, record.test_acc = test->accuracy, record.class_acc = test->class_accuracy();
  record.lr = timing.lr;
  record.images_per_s = session.seen / std::max(timing.epoch_s, 1e-9);
  record.epoch_s = timing.epoch_s;
  record.comm_wait_s = timing.comm_wait_s;
  record.peak_mem_bytes = timing.peak_mem_bytes;
  record.flops_per_image = timing.flops_per_image;
  record.mfu = timing.flops_per_image * record.images_per_s / (world_ * timing.peak_flops);  // NaN stays NaN
  record.grad_norm_mean = norms.mean, record.grad_norm_max = norms.max;
  record.world_size = world_;

  state_.epoch = record.epoch;
  state_.step_in_epoch = 0;
  state_.sums = {};
  const bool best = val && config_.keep_best && val->accuracy > state_.best_val_acc;
  if (best) state_.best_val_acc = val->accuracy;  // on every rank: the checkpoints carry it
  if (lead()) {
    std::cout << format_record(record, config_.epochs) << std::endl;
    // An every_steps checkpoint due at the epoch's last step is this one (the loop skips it).
    if (best) write_best(model, optimizer);
    if (state_.epoch % config_.checkpoint_every == 0 || state_.epoch == config_.epochs || step_checkpoint_due())
      checkpoint(model, optimizer, state_);
    rundir::append_metrics(dir_, record);
    if (const infer::EvalResult* last = test ? test : val)  // what the report's heat map shows
      write_confusion(dir_, record.epoch, test ? "test" : "val", last->confusion);
  }
  return record;
}

// best.nin: written atomically as the others, never pruned (not a ckpt-step name) and never
// resumed by --resume auto.
void Run::write_best(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer) const {
  checkpoint::write_checkpoint(dir_ / rundir::kBest, model, optimizer, config_.optimizer, state_,
                               config::to_toml(config_), world_);
}

void Run::finish(int64_t test_images, int64_t val_images) const {
  if (resumed_finished_)
    say("the run has completed its " + std::to_string(state_.epoch) + " epochs (train.epochs = " +
        std::to_string(config_.epochs) + "); raise train.epochs to go on");
  if (lead()) {
    const auto records = rundir::read_metrics(dir_);
    if (!records.empty() && std::isfinite(records.back().test_acc)) {
      const rundir::EpochRecord& r = records.back();
      std::ostringstream line;
      line << std::fixed << std::setprecision(4) << "final: test accuracy " << r.test_acc << " on " << test_images
           << " test images, test loss " << r.test_loss;
      if (std::isfinite(r.val_acc))
        line << " (validation accuracy " << r.val_acc << " on " << val_images << " held-out images)";
      line << "; page " << fs::absolute(dir_ / rundir::kReport).lexically_normal().string();
      say(line.str());
    }
  }
  control_.barrier();
}

void Run::checkpoint(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                     const checkpoint::TrainState& state) const {
  checkpoint::write_checkpoint(dir_ / rundir::checkpoint_name(state.global_step), model, optimizer,
                               config_.optimizer, state, config::to_toml(config_), world_);
  checkpoint::prune_checkpoints(dir_, config_.checkpoint_keep);
}

}  // namespace nin::run
