#include "train/trainer.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>
#include <torch/utils.h>

#include "data/sampler.h"
#include "dist/factory.h"
#include "dist/reducer.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/replicas.h"
#include "train/metrics.h"
#include "train/precision.h"
#include "train/signals.h"
#include "util/error.h"

namespace nin::train {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kStallBand = 0.05;  // |loss - ln(classes)| below this counts as stuck

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Dropout's seed for one micro-batch: a pure function of the run's seed and the
// position, so a resumed run draws the same masks as an uninterrupted one.
uint64_t dropout_seed(uint64_t seed, int64_t step, int64_t micro, int rank) {
  return splitmix64(seed ^ splitmix64(static_cast<uint64_t>(step) * 1024 + micro) ^ splitmix64(rank + 1)) >> 1;
}

// Rank 0 creates the run directory; every rank learns whether that worked.
void prepare_run_dir(const Config& c, dist::Communicator& control, bool lead) {
  std::string error;
  if (lead) {
    std::error_code ec;
    fs::create_directories(c.run_dir, ec);
    if (ec) error = "cannot create run directory " + c.run_dir + ": " + ec.message();
    else if (::access(c.run_dir.c_str(), W_OK) != 0) error = "run directory " + c.run_dir + " is not writable";
    else std::ofstream(fs::path(c.run_dir) / "config.toml") << to_toml(c);
  }
  auto failed = torch::tensor({error.empty() ? 0 : 1}, torch::kInt32);
  control.allreduce(failed, dist::ReduceOp::kMax);
  if (failed.item<int>() != 0) throw InputError(lead ? error : "rank 0 could not prepare run.dir = " + c.run_dir);
}

// Fault injection for the reliability tests: NIN_FAULT=KIND:STEP:RANK makes rank RANK
// poison its loss with NaN (KIND "nan") or nudge one weight (KIND "perturb") at STEP.
struct Fault {
  std::string kind;
  int64_t step = -1;  // global step, 1-based
  int rank = -1;
  bool at(const char* k, int64_t s, int r) const { return kind == k && step == s && rank == r; }
};

Fault fault_from_env() {
  Fault f;
  const char* spec = std::getenv("NIN_FAULT");
  if (!spec) return f;
  std::istringstream in(spec);
  std::string step, rank;
  if (!std::getline(in, f.kind, ':') || !std::getline(in, step, ':') || !std::getline(in, rank))
    throw InputError(std::string("NIN_FAULT=") + spec + ": expected KIND:STEP:RANK");
  f.step = std::stoll(step);
  f.rank = std::stoi(rank);
  return f;
}

// NiN's last ReLU sits before the global average pool: a class whose channel dies there
// is never predicted again. Say so, with the usual cures.
void warn_dead_classes(const torch::Tensor& confusion) {
  const auto predicted = confusion.sum(0);
  for (int64_t c = 0; c < predicted.size(0); ++c) {
    if (predicted[c].item<int64_t>() != 0) continue;
    std::cout << "warning: class " << c
              << (predicted.size(0) == 10 ? std::string(" (") + data::kFashionMnistClasses[c] + ")" : "")
              << " was never predicted: its channel before the global average pool is likely dead; "
              << "a lower train.lr or another train.seed usually avoids it" << std::endl;
  }
}

}  // namespace

torch::Device select_device(const std::string& setting, const dist::Process& process) {
  if (setting == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available() && (process.size() == 1 || dist::nccl_available());
  const std::string where = " on host " + process.host() + " (rank " + std::to_string(process.rank()) + ")";
  if (!cuda) {
    if (setting == "auto") return torch::kCPU;
    throw InputError("train.device = \"cuda\" but no CUDA device is usable" + where +
                     (torch::cuda::is_available() ? ": this build has no NCCL" : "") + "; use train.device = \"cpu\"");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (process.local_rank() >= count)
    throw InputError("host " + process.host() + " has " + std::to_string(count) + " GPUs but rank " +
                     std::to_string(process.rank()) + " is local rank " + std::to_string(process.local_rank()) +
                     ": start at most " + std::to_string(count) + " ranks per node");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(process.local_rank()));
}

int64_t select_threads(int64_t setting, const dist::Process& process) {
  if (setting > 0) return setting;
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max<int64_t>(1, cores / process.local_size());
}

int train(const Config& cfg, const RunOptions& options, dist::Process& process) {
  install_stop_handlers();  // first: a signal during set-up still ends in a checkpoint
  validate(cfg, process.size());
  const bool lead = process.rank() == 0;
  const int world = process.size();
  auto say = [&](const std::string& line) { if (lead) std::cout << line << std::endl; };

  torch::set_num_threads(static_cast<int>(select_threads(cfg.threads, process)));
  const torch::Device device = select_device(cfg.device, process);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.timeout_s * 1000));
  auto control = dist::make_communicator(process, torch::kCPU, timeout);  // small CPU messages
  auto device_comm = device.is_cuda() ? dist::make_communicator(process, device, timeout) : nullptr;
  dist::Communicator& grad_comm = device_comm ? *device_comm : *control;
  check_same_config(cfg, *control);
  prepare_run_dir(cfg, *control, lead);
  const fs::path run_dir = cfg.run_dir;

  torch::manual_seed(cfg.seed);
  model::NiN model(model::NiNOptions{cfg.in_channels, cfg.num_classes, cfg.dropout});
  auto optimizer = make_optimizer(cfg, model->parameters());
  TrainState state;
  if (!options.resume.empty()) {
    std::unique_ptr<CheckpointFile> ck;
    if (options.resume == "auto") {
      std::vector<std::string> warnings;
      ck = newest_valid_checkpoint(run_dir, warnings);
      for (const auto& w : warnings) say("warning: " + w);
      if (!ck && !list_checkpoints(run_dir).empty())
        throw InputError(run_dir.string() + ": every checkpoint is corrupt; nothing to resume from");
      if (!ck) say("no checkpoint in " + run_dir.string() + ": starting from scratch");
    } else {
      ck = std::make_unique<CheckpointFile>(read_checkpoint(options.resume));
    }
    if (ck) {
      if (ck->optimizer != cfg.optimizer)
        throw InputError(ck->path.string() + ": written with train.optimizer = \"" + ck->optimizer +
                         "\", the config says \"" + cfg.optimizer + "\"");
      restore(*ck, *model, optimizer.get());
      state = ck->state;
      say("resumed from " + ck->path.string() +
          (state.step_in_epoch == 0 ? " at the end of epoch " + std::to_string(state.epoch)
                                    : " in epoch " + std::to_string(state.epoch + 1) + " after step " +
                                          std::to_string(state.step_in_epoch)) +
          ", global step " + std::to_string(state.global_step) + " (written by " + std::to_string(ck->world_size) + " ranks)");
    }
  }
  // Data: uint8 on the training device; batches are built there, step by step.
  auto train_set = data::load_split(cfg.data_dir, /*train=*/true, cfg.num_classes, cfg.train_limit);
  auto test_set = data::load_split(cfg.data_dir, /*train=*/false, cfg.num_classes, cfg.test_limit);
  for (auto* s : {&train_set, &test_set}) s->images = s->images.to(device), s->labels = s->labels.to(device);
  const data::BatchOptions batch_opts{cfg.resize, cfg.normalize};

  model->to(device);
  move_optimizer_state(*optimizer, device);
  broadcast_model(*model, grad_comm);  // identical replicas, whatever each rank's seed did
  configure_precision(cfg.precision, device);

  dist::Reducer reducer(model->parameters(), grad_comm, static_cast<int64_t>(cfg.bucket_mb * kMiB),
                        static_cast<int64_t>(cfg.first_bucket_mb * kMiB));
  const data::DistributedSampler sampler(train_set.size(), process.rank(), world, cfg.seed, /*shuffle=*/true,
                                         /*drop_last=*/false);
  const int64_t local_batch = cfg.batch_size / world;             // images per rank per step
  const int64_t micro_batch = local_batch / cfg.accumulate;       // images per rank per backward
  const int64_t steps_per_epoch = (sampler.num_samples() + local_batch - 1) / local_batch;
  const double ln_classes = std::log(static_cast<double>(cfg.num_classes));
  say("nin-dist: " + std::to_string(world) + " rank(s) on " + std::to_string(process.num_nodes()) + " node(s), " +
      device.str() + ", " + std::to_string(torch::get_num_threads()) + " threads/rank, " +
      std::to_string(train_set.size()) + " train / " + std::to_string(test_set.size()) + " test images at " +
      std::to_string(cfg.resize) + "px, global batch " + std::to_string(cfg.batch_size) + ", " +
      std::to_string(steps_per_epoch) + " steps/epoch, " + std::to_string(reducer.num_buckets()) + " gradient buckets");

  const Fault fault = fault_from_env();
  int64_t stalled_since = -1;
  bool stall_warned = false;
  for (int64_t epoch = state.epoch; epoch < cfg.epochs; ++epoch) {
    const auto shard_vec = sampler.indices(epoch);
    const auto shard = torch::tensor(shard_vec).to(device);
    const int64_t first_step = state.step_in_epoch;
    model->train();
    Progress progress(epoch + 1, cfg.epochs, steps_per_epoch, cfg.log_every, cfg.quiet, lead);
    const double wait_before = reducer.wait_seconds();
    const auto start = std::chrono::steady_clock::now();
    auto loss_sum = torch::zeros({}, torch::TensorOptions(device).dtype(torch::kDouble));
    auto correct = torch::zeros({}, torch::TensorOptions(device).dtype(torch::kInt64));
    int64_t seen = 0;  // this rank, this session
    double lr = lr_at(cfg, state.global_step, steps_per_epoch);
    // This session's (loss sum, correct, images) of the epoch, summed over all ranks.
    auto epoch_sums = [&] {
      auto sums = torch::tensor({loss_sum.item<double>(), double(correct.item<int64_t>()), double(seen)}, torch::kDouble);
      control->allreduce(sums, dist::ReduceOp::kSum);
      return sums;
    };

    for (int64_t step = first_step; step < steps_per_epoch; ++step) {
      const int64_t begin = step * local_batch, end = std::min(begin + local_batch, sampler.num_samples());
      reducer.zero_grad();
      auto step_loss = torch::zeros_like(loss_sum);
      auto step_correct = torch::zeros_like(correct);
      for (int64_t m = begin; m < end; m += micro_batch) {
        const int64_t m_end = std::min(m + micro_batch, end);
        const auto idx = shard.slice(0, m, m_end);
        const auto x = data::make_batch(train_set.images, idx, batch_opts);
        const auto y = train_set.labels.index_select(0, idx);
        reducer.prepare(/*sync=*/m_end == end);
        torch::manual_seed(dropout_seed(cfg.seed, state.global_step, m - begin, process.rank()));
        torch::Tensor logits;
        {
          AutocastGuard autocast(cfg.precision, device);
          logits = model->forward(x);
        }
        auto loss = F::cross_entropy(logits.to(torch::kFloat), y);
        if (fault.at("nan", state.global_step + 1, process.rank())) loss = loss * std::nan("");
        // Weighted so that the step's gradient is the mean over all of its images.
        (loss * (double(m_end - m) / double(end - begin))).backward();
        torch::NoGradGuard no_grad;
        step_loss += loss.detach().to(torch::kDouble) * double(m_end - m);
        step_correct += (logits.argmax(1) == y).sum();
      }
      reducer.finalize();

      if (!gradients_finite(*model)) {
        const std::string where = "epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                                  " (global step " + std::to_string(state.global_step + 1) + ")";
        if (cfg.on_nonfinite == "stop")
          throw CollectiveFault("non-finite loss or gradient at " + where +
                                "; lower train.lr, or set dist.on_nonfinite = \"skip\"");
        say("warning: non-finite gradient at " + where + ": step skipped");
      } else {
        lr = lr_at(cfg, state.global_step, steps_per_epoch);
        set_lr(*optimizer, lr);
        optimizer->step();
        loss_sum += step_loss;  // a skipped step counts in no metric
        correct += step_correct;
        seen += end - begin;
      }
      if (fault.at("perturb", state.global_step + 1, process.rank())) {
        torch::NoGradGuard no_grad;
        model->parameters().front().add_(1e-3);
      }
      ++state.global_step;
      state.step_in_epoch = step + 1;
      if (cfg.check_every > 0 && state.global_step % cfg.check_every == 0)
        check_replicas(*model, *control, state.global_step, epoch);

      // Preemption: agree on stopping, so that no rank leaves a collective alone.
      auto stop = torch::tensor({stop_signal()}, torch::kInt32);
      control->allreduce(stop, dist::ReduceOp::kMax);
      if (stop.item<int>() != 0) {
        const auto sums = epoch_sums();
        state.loss_sum += sums[0].item<double>();
        state.correct += static_cast<int64_t>(sums[1].item<double>());
        state.seen += static_cast<int64_t>(sums[2].item<double>());
        progress.finish();
        if (lead) {
          const fs::path path = run_dir / checkpoint_name(state.global_step);
          write_checkpoint(path, *model, *optimizer, cfg.optimizer, state, to_toml(cfg), world);
          prune_checkpoints(run_dir, cfg.checkpoint_keep);
          std::cout << "signal " << stop.item<int>() << ": stopped at epoch " << epoch + 1 << ", step " << step + 1
                    << "; checkpoint " << path.string() << "; resume with --resume auto" << std::endl;
        }
        control->barrier();  // the checkpoint exists before any rank exits
        return kExitPreempted;
      }

      if (progress.due(step + 1)) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double running = loss_sum.item<double>() / std::max<int64_t>(seen, 1);
        progress.update(step + 1, running, double(seen) * world / std::max(secs, 1e-9));
        if (cfg.stall_steps > 0 && !stall_warned) {
          if (std::abs(running - ln_classes) > kStallBand) stalled_since = -1;
          else if (stalled_since < 0) stalled_since = state.global_step;
          else if (state.global_step - stalled_since >= cfg.stall_steps) {
            stall_warned = true;
            progress.finish();
            std::cout << "warning: the training loss has stayed at ln(" << cfg.num_classes << ") = " << ln_classes
                      << " for " << cfg.stall_steps << " steps: the network predicts uniformly. NiN does this "
                      << "when the learning rate is too high for it (try a lower train.lr, or adam with 1e-3) or "
                      << "when its ReLUs die before the global average pool." << std::endl;
          }
        }
      }
    }
    const double epoch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.finish();

    const auto sums = epoch_sums();
    const double total_seen = sums[2].item<double>() + state.seen;
    const auto eval = evaluate(model, test_set, batch_opts, *control, local_batch, device);
    EpochRecord record;
    record.epoch = epoch + 1;
    record.step = state.global_step;
    record.train_loss = (sums[0].item<double>() + state.loss_sum) / std::max(total_seen, 1.0);
    record.train_acc = (sums[1].item<double>() + state.correct) / std::max(total_seen, 1.0);
    record.test_loss = eval.loss;
    record.test_acc = eval.accuracy;
    record.lr = lr;
    record.images_per_s = sums[2].item<double>() / std::max(epoch_s, 1e-9);
    record.epoch_s = epoch_s;
    record.comm_wait_s = reducer.wait_seconds() - wait_before;
    record.world_size = world;

    state.epoch = epoch + 1;
    state.step_in_epoch = 0;
    state.loss_sum = 0, state.correct = 0, state.seen = 0;
    if (lead) {
      std::cout << format_record(record, cfg.epochs) << std::endl;
      warn_dead_classes(eval.confusion);
      if (state.epoch % cfg.checkpoint_every == 0 || state.epoch == cfg.epochs) {
        write_checkpoint(run_dir / checkpoint_name(state.global_step), *model, *optimizer, cfg.optimizer, state,
                         to_toml(cfg), world);
        prune_checkpoints(run_dir, cfg.checkpoint_keep);
      }
      append_metrics(run_dir, record);
      std::string warning;
      if (!plot_curves({run_dir}, run_dir, warning)) std::cout << "warning: " << warning << std::endl;
    }
    if (epoch + 1 == cfg.epochs) {
      std::ostringstream line;
      line << "final: test accuracy " << eval.accuracy << " on " << eval.count << " test images, test loss "
           << eval.loss << "; run directory " << run_dir.string();
      say(line.str());
    }
  }
  if (state.epoch >= cfg.epochs && !options.resume.empty())
    say("the run has completed its " + std::to_string(cfg.epochs) + " epochs; raise train.epochs to go on");
  control->barrier();
  return kExitOk;
}

}  // namespace nin::train
