// Run directory, resume, checkpoints, preemption and the per-epoch record.
#include "train/run.h"

#include <unistd.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>

#include "data/fashion_mnist.h"
#include "dist/agree.h"
#include "format/atomic_file.h"
#include "train/signals.h"
#include "util/error.h"

namespace nin::train {
namespace fs = std::filesystem;
namespace {

constexpr double kStallBand = 0.05;  // |loss - ln(classes)| below this counts as stuck

// Whether a mean cross-entropy has left ln(classes), the loss of uniform predictions.
bool off_chance(double loss, int64_t classes) { return std::abs(loss - std::log(double(classes))) > kStallBand; }

// The checkpoint `resume` names, as rank 0 sees it; null when "auto" finds none to resume from.
std::unique_ptr<CheckpointFile> find_checkpoint(const std::string& resume, const fs::path& dir, bool trust_legacy,
                                                const Run& run) {
  if (resume != "auto") return std::make_unique<CheckpointFile>(read_checkpoint(resume, trust_legacy));
  std::vector<std::string> warnings;
  auto ck = newest_valid_checkpoint(dir, warnings, trust_legacy);
  for (const auto& w : warnings) run.warn(w);
  if (!ck && !list_checkpoints(dir).empty())
    throw InputError(dir.string() + ": every checkpoint is corrupt; nothing to resume from");
  if (!ck) run.say("no checkpoint in " + dir.string() + ": starting from scratch");
  return ck;
}

// What rank 0 chose, as every rank receives it: {found (0 none, 1 a file, -1 an error),
// global step, checksum's high and low 32 bits}.
torch::Tensor choice_of(int64_t found, const CheckpointFile* ck) {
  const uint64_t sum = ck ? ck->checksum : 0;
  return torch::tensor({found, ck ? ck->state.global_step : int64_t{0}, static_cast<int64_t>(sum >> 32),
                        static_cast<int64_t>(sum & 0xffffffffULL)}, torch::kInt64);
}

// One checkpoint for all ranks: rank 0 picks it and broadcasts its step and checksum; every
// other rank loads the same file and checks both. Null everywhere when rank 0 found none.
std::unique_ptr<CheckpointFile> agree_on_checkpoint(const std::string& resume, const fs::path& dir,
                                                    bool trust_legacy, const Run& run, dist::Communicator& control) {
  std::unique_ptr<CheckpointFile> ck;
  std::string error;
  if (run.lead()) {
    try {
      ck = find_checkpoint(resume, dir, trust_legacy, run);
    } catch (const InputError& e) {
      error = e.what();
    }
  }
  auto choice = run.lead() ? choice_of(error.empty() ? (ck ? 1 : 0) : -1, ck.get()) : choice_of(0, nullptr);
  control.broadcast(choice, /*root=*/0);
  const auto c = choice.accessor<int64_t, 1>();
  if (c[0] < 0) throw InputError(run.lead() ? error : "rank 0 could not read the checkpoint to resume from");
  const uint64_t checksum = (static_cast<uint64_t>(c[2]) << 32) | static_cast<uint64_t>(c[3]);
  const fs::path path = resume == "auto" ? dir / checkpoint_name(c[1]) : fs::path(resume);
  std::string seen;  // what this rank found instead, "" when it agrees
  if (!run.lead() && c[0] == 1) {
    try {
      ck = std::make_unique<CheckpointFile>(read_checkpoint(path, trust_legacy));
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

std::string resume_position(const TrainState& s) {
  return s.step_in_epoch == 0 ? " at the end of epoch " + std::to_string(s.epoch)
                              : " in epoch " + std::to_string(s.epoch + 1) + " after step " + std::to_string(s.step_in_epoch);
}

}  // namespace

Run::Run(const Config& config, int rank, int world, dist::Communicator& control)
    : config_(config), rank_(rank), world_(world), control_(control), dir_(config.run_dir) {}

void Run::create_dir() {
  const Config& config = config_;
  std::string error;
  if (lead()) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) error = "cannot create run directory " + config.run_dir + ": " + ec.message();
    else if (::access(config.run_dir.c_str(), W_OK) != 0) error = "run directory " + config.run_dir + " is not writable";
    else {
      try {
        lock_ = std::make_unique<RunLock>(dir_);
        format::write_atomically(dir_ / "config.toml", {to_toml(config)}, "config");
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
  }
  if (dist::any_rank(control_, !error.empty()))
    throw InputError(lead() ? error : "rank 0 could not prepare run.dir = " + config.run_dir);
}

void Run::say(const std::string& line) const {
  if (lead()) std::cout << line << std::endl;
}

void Run::warn(const std::string& text) const {
  if (lead()) std::cerr << "warning: " << text << std::endl;
}

void Run::resume(const std::string& resume, bool trust_legacy, model::NiN& model,
                 torch::optim::Optimizer& optimizer) {
  if (resume.empty()) return;
  const auto ck = agree_on_checkpoint(resume, dir_, trust_legacy, *this, control_);
  if (!ck) return;
  if (ck->optimizer != config_.optimizer)
    throw InputError(ck->path.string() + ": written with train.optimizer = \"" + ck->optimizer +
                     "\", the config says \"" + config_.optimizer + "\"");
  restore(*ck, *model, &optimizer);
  state_ = ck->state;
  resumed_finished_ = state_.epoch >= config_.epochs;
  say("resumed from " + ck->path.string() + resume_position(state_) + ", global step " +
      std::to_string(state_.global_step) + " (written by " + std::to_string(ck->world_size) + " ranks)");
}

void Run::step_done(int64_t step_in_epoch) {
  ++state_.global_step;
  state_.step_in_epoch = step_in_epoch;
}

std::string Run::watch_loss(double running_loss) {
  if (config_.stall_steps <= 0 || stall_warned_) return "";
  if (off_chance(running_loss, config_.num_classes)) stalled_since_ = -1;
  else if (stalled_since_ < 0) stalled_since_ = state_.global_step;
  else if (state_.global_step - stalled_since_ >= config_.stall_steps) {
    stall_warned_ = true;
    std::ostringstream w;
    w << "the training loss has stayed at ln(" << config_.num_classes << ") = "
      << std::log(static_cast<double>(config_.num_classes)) << " for "
      << config_.stall_steps << " steps: the network predicts uniformly. NiN does this when the learning rate is "
      << "too high for it (try a lower train.lr, or adam with 1e-3) or when its ReLUs die before the global "
      << "average pool.";
    return w.str();
  }
  return "";
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

TrainState Run::with_totals(const EpochTotals& epoch_so_far) const {
  TrainState s = state_;
  s.loss_sum += epoch_so_far.loss_sum;
  s.correct += static_cast<int64_t>(epoch_so_far.correct);
  s.seen += static_cast<int64_t>(epoch_so_far.seen);
  return s;
}

void Run::preempt(const EpochTotals& epoch_so_far, const torch::nn::Module& model,
                  const torch::optim::Optimizer& optimizer) {
  state_ = with_totals(epoch_so_far);
  if (lead()) {
    checkpoint(model, optimizer, state_);
    std::cout << "signal " << stop_signal_ << ": stopped at epoch " << state_.epoch + 1 << ", step "
              << state_.step_in_epoch << "; checkpoint " << (dir_ / checkpoint_name(state_.global_step)).string()
              << "; resume with --resume auto" << std::endl;
  }
  control_.barrier();  // the checkpoint exists before any rank exits
}

bool Run::step_checkpoint_due() const {
  return config_.checkpoint_every_steps > 0 && state_.global_step % config_.checkpoint_every_steps == 0;
}

// No barrier: rank 0 alone writes, and the others meet it at the next step's allreduce.
void Run::checkpoint_mid_epoch(const EpochTotals& epoch_so_far, const torch::nn::Module& model,
                               const torch::optim::Optimizer& optimizer) const {
  if (lead()) checkpoint(model, optimizer, with_totals(epoch_so_far));
}

void Run::end_epoch(const EpochTotals& session, const EvalResult& eval, const EpochTiming& timing,
                    const torch::nn::Module& model, const torch::optim::Optimizer& optimizer) {
  const double total_seen = session.seen + state_.seen;
  EpochRecord record;
  record.epoch = state_.epoch + 1;
  record.step = state_.global_step;
  record.train_loss = (session.loss_sum + state_.loss_sum) / std::max(total_seen, 1.0);
  record.train_acc = (session.correct + state_.correct) / std::max(total_seen, 1.0);
  record.test_loss = eval.loss;
  record.test_acc = eval.accuracy;
  record.lr = timing.lr;
  record.images_per_s = session.seen / std::max(timing.epoch_s, 1e-9);
  record.epoch_s = timing.epoch_s;
  record.comm_wait_s = timing.comm_wait_s;
  record.world_size = world_;
  record.class_acc = eval.class_accuracy();

  state_.epoch = record.epoch;
  state_.step_in_epoch = 0;
  state_.loss_sum = 0, state_.correct = 0, state_.seen = 0;
  if (lead()) {
    std::cout << format_record(record, config_.epochs) << std::endl;
    loss_moved_ = loss_moved_ || off_chance(record.train_loss, config_.num_classes);
    if (loss_moved_) warn_dead_classes(eval.confusion, state_.epoch == config_.epochs);
    // An every_steps checkpoint due at the epoch's last step is this one (the loop skips it).
    if (state_.epoch % config_.checkpoint_every == 0 || state_.epoch == config_.epochs || step_checkpoint_due())
      checkpoint(model, optimizer, state_);
    append_metrics(dir_, record);
    std::string warning;
    if (!plot_curves({dir_}, dir_, warning) && warning != plot_warning_) warn(warning);
    plot_warning_ = warning;
  }
  if (state_.epoch == config_.epochs) {
    std::ostringstream line;
    line << "final: test accuracy " << eval.accuracy << " on " << eval.count << " test images, test loss " << eval.loss
         << "; run directory " << dir_.string();
    say(line.str());
  }
}

void Run::finish() const {
  if (resumed_finished_)
    say("the run has completed its " + std::to_string(config_.epochs) + " epochs; raise train.epochs to go on");
  control_.barrier();
}

void Run::checkpoint(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                     const TrainState& state) const {
  write_checkpoint(dir_ / checkpoint_name(state.global_step), model, optimizer, config_.optimizer, state,
                   to_toml(config_), world_);
  prune_checkpoints(dir_, config_.checkpoint_keep);
}

// NiN's last ReLU sits before the global average pool: a class whose channel dies there
// is never predicted again. A class counts as dead when no test image was predicted as it
// at two evaluations in a row (or at the last one) once the loss has left ln(classes):
// early in training a live class is often not predicted yet. Said once, and again only
// when the set of classes changes.
void Run::warn_dead_classes(const torch::Tensor& confusion, bool last) {
  const auto predicted = confusion.sum(0);
  std::vector<bool> unpredicted(size_t(predicted.size(0)));
  std::string dead;
  for (int64_t c = 0; c < predicted.size(0); ++c) {
    unpredicted[size_t(c)] = predicted[c].item<int64_t>() == 0;
    const bool before = size_t(c) < unpredicted_.size() && unpredicted_[size_t(c)];
    if (!unpredicted[size_t(c)] || !(before || last)) continue;
    dead += (dead.empty() ? "" : ", ") + std::to_string(c) +
            (predicted.size(0) == 10 ? std::string(" (") + data::kFashionMnistClasses[c] + ")" : "");
  }
  unpredicted_ = unpredicted;
  const bool one = dead.find(',') == std::string::npos;
  if (!dead.empty() && dead != dead_classes_)
    warn((one ? "class " : "classes ") + dead + (one ? " was" : " were") + " never predicted: " +
         (one ? "its channel" : "their channels") + " before the global average pool may be shut (see " +
         "model.class_bias and train.lr), or training is still too short");
  dead_classes_ = dead;
}

}  // namespace nin::train
