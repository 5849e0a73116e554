// The loop: set-up in order, then epochs of steps; the step reads top to bottom.
#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <torch/cuda.h>
#include <torch/utils.h>

#include "data/holdout.h"
#include "data/loader.h"
#include "dist/agree.h"
#include "dist/factory.h"
#include "dist/reducer.h"
#include "dist/where.h"
#include "infer/evaluate.h"
#include "infer/model_io.h"
#include "model/flops.h"
#include "run/background_plot.h"
#include "monitor/device_stats.h"
#include "monitor/fault.h"
#include "train/graph_step.h"
#include "monitor/health.h"
#include "train/meter.h"
#include "train/optim.h"
#include "train/precision.h"
#include "monitor/profile.h"
#include "monitor/replicas.h"
#include "run/run.h"
#include "run/info.h"
#include "run/signals.h"
#include "train/step.h"
#include "monitor/trace.h"
#include "util/error.h"

namespace nin::train {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// Eager steps before the capture: cuDNN's autotuning, the optimizer's state and the caching
// allocator settle first (PyTorch's make_graphed_callables uses 3 too).
constexpr int kGraphWarmupSteps = 3;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// "epoch E, step S (global step G)", 1-based, of 0-based global step `g`.
std::string position_of(int64_t g, int64_t steps_per_epoch) {
  return "epoch " + std::to_string(g / steps_per_epoch + 1) + ", step " + std::to_string(g % steps_per_epoch + 1) +
         " (global step " + std::to_string(g + 1) + ")";
}

// Everything a rank holds while it trains, built in the order the set-up needs.
class Trainer {
 public:
  Trainer(const config::Config& cfg, const RunOptions& options, dist::Process& process);
  int run();  // kExitOk, or kExitPreempted once the checkpoint is written

 private:
  bool epoch(int64_t epoch);  // false when preempted
  void step(const data::Step& batch);
  void settle();  // reads the step's verdict back: stop, or warn of skipped steps
  // The held-out splits due after epoch `done` (1-based): validation every epoch, the test
  // set after the last and every eval.test_every epochs; empty where not due.
  std::pair<std::optional<infer::EvalResult>, std::optional<infer::EvalResult>> evaluate_held_out(int64_t done);
  void say_setup() const;

  const config::Config& cfg_;
  const int rank_, world_;
  const dist::Process& process_;
  const torch::Device device_;
  std::unique_ptr<RunStream> run_stream_;  // a CUDA device's one stream, current from here on
  std::unique_ptr<dist::Communicator> control_;      // small CPU messages
  std::unique_ptr<dist::Communicator> device_comm_;  // gradients, when they live on a GPU
  dist::Communicator* grad_comm_ = nullptr;          // device_comm_ or control_
  std::optional<run::Run> run_;
  monitor::Health health_;
  std::optional<run::BackgroundPlot> plot_;  // rank 0's: curves.svg and report.html
  model::NiN model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::optional<data::Loader> loader_;
  std::optional<data::Split> val_set_;  // data.val_split's held-out images
  data::Split test_set_;
  std::optional<dist::Reducer> reducer_;
  monitor::Fault fault_ = monitor::Fault::from_env();
  EpochMeter meter_;
  std::optional<StaticStep> step_;
  std::unique_ptr<monitor::Trace> trace_;  // log.trace_steps; nullptr when off
  std::unique_ptr<monitor::Profile> profile_;  // log.profile_steps on rank 0; nullptr when off
  double flops_per_image_ = 0;    // training FLOPs at data.resize, counted once from the model
  double peak_flops_ = 0;         // the device's dense peak FLOP/s; NaN when unknown (a CPU)
  std::unique_ptr<GraphStep> graph_;  // train.cuda_graph: the step captured once, then replayed
  int64_t graph_batch_ = 0;           // images per rank the graph was made for
};

Trainer::Trainer(const config::Config& cfg, const RunOptions& options, dist::Process& process)
    : cfg_(cfg), rank_(process.rank()), world_(process.size()), process_(process),
      device_(select_device(cfg.device, process)), run_stream_(use_run_stream(device_)),
      health_(cfg.num_classes, cfg.stall_steps), meter_(device_) {
  if (cfg.cuda_graph) check_graph_support(device_);  // InputError where no CUDA graph can run
  const auto timeout = config::collective_timeout(cfg);
  control_ = dist::make_communicator(process, torch::kCPU, timeout);
  if (device_.is_cuda()) device_comm_ = dist::make_communicator(process, device_, timeout);
  grad_comm_ = device_comm_ ? device_comm_.get() : control_.get();
  monitor::check_same_config(cfg, *control_);
  run_.emplace(cfg, rank_, world_, *control_);  // reads first: bad input leaves no file behind

  torch::manual_seed(cfg.seed);
  model_ = infer::make_model(cfg);
  optimizer_ = make_optimizer(cfg, model_->parameters());
  run_->resume(options.resume, model_, *optimizer_);

  // Data: uint8 on the training device; batches are built there, step by step.
  auto train_set = data::load_split(cfg.data_dir, /*train=*/true, cfg.num_classes, cfg.train_limit);
  if (cfg.val_split > 0) {  // before anything is sharded: the same images on every rank
    auto held = data::hold_out(train_set, cfg.val_split, cfg.seed, cfg.num_classes);
    train_set = std::move(held.train);
    val_set_ = std::move(held.validation);
  }
  test_set_ = data::load_split(cfg.data_dir, /*train=*/false, cfg.num_classes, cfg.test_limit);
  for (auto* s : {&train_set, val_set_ ? &*val_set_ : nullptr, &test_set_})
    if (s) s->images = s->images.to(device_), s->labels = s->labels.to(device_);
  const int64_t local_batch = cfg.batch_size / world_;  // images per rank per step
  loader_.emplace(train_set, data::LoaderOptions{local_batch, local_batch / cfg.accumulate, rank_, world_, cfg.seed,
                                                 infer::batch_options(cfg), infer::augment_options(cfg)});
  run_->create_dir(options.overwrite);
  try {  // a page's facts: their loss is said, and training goes on
    run::write_run_json(run_->dir(), *control_, process_.host(), device_.str(), process_.num_nodes());
  } catch (const std::runtime_error& e) {
    run_->warn(e.what());
  }
  if (run_->lead()) plot_.emplace(run_->dir(), [this](const std::string& w) { run_->warn(w); });

  flops_per_image_ = model::flops_per_image(model_, cfg.in_channels, cfg.resize);  // one image, on the CPU
  peak_flops_ = monitor::peak_flops(device_, cfg.precision);
  model_->to(device_);
  use_channels_last(*model_, cfg_.channels_last);  // before the reducer and the graph see the parameters
  move_optimizer_state(*optimizer_, device_);
  monitor::broadcast_model(*model_, *grad_comm_);  // identical replicas, whatever each rank's seed did
  enable_cudnn_autotune(device_);
  reducer_.emplace(model_->parameters(), *grad_comm_, static_cast<int64_t>(cfg.bucket_mb * kMiB),
                   static_cast<int64_t>(cfg.first_bucket_mb * kMiB));
  step_.emplace(cfg, rank_, model_, *optimizer_, *reducer_, meter_, fault_, loader_->steps_per_epoch(),
                run_->state().global_step, device_);
  trace_ = monitor::Trace::from_config(cfg, device_, *control_, rank_, run_->dir(), [this](const std::string& s) { run_->say(s); });
  step_->trace(trace_.get());
  reducer_->observe(trace_.get());
  profile_ = monitor::Profile::from_config(cfg, device_, rank_, run_->dir(), [this](const std::string& s) { run_->say(s); });
  if (cfg.cuda_graph) {
    graph_ = make_graph_step(device_, [this](const torch::Tensor& x, const torch::Tensor& y) {
      step_->run_captured_body(x, y);
    }, kGraphWarmupSteps);
    graph_batch_ = local_batch;
  }
  say_setup();
}

void Trainer::say_setup() const {
  run_->say("nin-dist: " + std::to_string(world_) + " rank(s) on " + std::to_string(process_.num_nodes()) +
            " node(s), " + device_.str() + ", " + std::to_string(torch::get_num_threads()) + " threads/rank, " +
            std::to_string(loader_->dataset_size()) + " train / " +
            (val_set_ ? std::to_string(val_set_->size()) + " validation / " : std::string()) +
            std::to_string(test_set_.size()) + " test images at " + std::to_string(cfg_.resize) +
            "px, global batch " + std::to_string(cfg_.batch_size) + ", " +
            std::to_string(loader_->steps_per_epoch()) + " steps/epoch, " +
            std::to_string(reducer_->num_buckets()) + " gradient buckets");
}

int Trainer::run() {
  bool preempted = false;
  for (int64_t e = run_->state().epoch; e < cfg_.epochs && !preempted; ++e) preempted = !epoch(e);
  if (plot_) plot_->finish();
  if (preempted) return kExitPreempted;
  run_->finish(test_set_.size(), val_set_ ? val_set_->size() : 0);
  return kExitOk;
}

bool Trainer::epoch(int64_t epoch) {
  model_->train();
  loader_->start(epoch, run_->state().step_in_epoch);
  run::Progress progress(epoch + 1, cfg_.epochs, loader_->steps_per_epoch(), cfg_.log_every, cfg_.quiet, run_->lead());
  meter_.reset();
  const double wait_before = reducer_->wait_seconds();
  const auto start = Clock::now();
  int64_t images = 0;  // this rank's, this session
  double recorded_loss = std::nan("");  // the ranks' mean loss of the epoch so far, at the last record
  while (!loader_->done()) {
    if (trace_) trace_->start_step(run_->state().step_in_epoch);
    if (profile_) profile_->start_step(run_->state().step_in_epoch);
    monitor::Span data(trace_.get(), monitor::Phase::kData);
    const auto batch = loader_->next();
    data.end();
    run_->start_stop_vote();  // in flight during the step: preemption costs the step no wait
    step(batch);
    if (trace_) trace_->end_step();
    if (profile_) profile_->end_step();
    images += batch.images();
    if (cfg_.check_every > 0 && run_->state().global_step % cfg_.check_every == 0)
      monitor::check_replicas(*model_, *control_, run_->state().global_step, epoch);
    if (run_->stop_requested()) {  // every rank stops at the same step
      progress.finish();
      settle();
      run_->preempt(meter_.sum_over_ranks(*control_), *model_, *optimizer_);
      return false;
    }
    if (run_->step_checkpoint_due() && !loader_->done()) {  // mid-epoch; the epoch's end writes its own
      monitor::Span checkpoint(trace_.get(), monitor::Phase::kCheckpoint);
      settle();
      run_->checkpoint_mid_epoch(meter_.sum_over_ranks(*control_), *model_, *optimizer_);
    }
    // The host reads the device at one point per log.every steps of the epoch (and at its last
    // step): the verdict and the step record, together. Between them nothing is read, and a
    // terminal's bar shows the last recorded loss.
    const int64_t in_epoch = batch.index() + 1;
    const bool record_due = in_epoch % cfg_.log_every == 0 || loader_->done();
    if (record_due) {
      settle();  // on every rank: the same verdict
      recorded_loss = run_->record_step(meter_.sum_over_ranks(*control_),  // steps.jsonl: a collective
                                        lr_at(cfg_, run_->state().global_step - 1, loader_->steps_per_epoch()),
                                        loader_->steps_per_epoch()).train_loss;
    }
    if (progress.due(in_epoch)) {
      progress.update(in_epoch, recorded_loss, double(images) * world_ / std::max(seconds_since(start), 1e-9));
      const auto warning = record_due ? health_.watch_loss(recorded_loss, run_->state().global_step) : "";
      if (!warning.empty()) {
        progress.finish();
        run_->warn(warning);
      }
    }
  }
  const double epoch_s = seconds_since(start);
  if (profile_) profile_->end_epoch();  // after the clock: its device syncs and files are not the epoch's
  progress.finish();
  grad_comm_->check();
  settle();
  const auto totals = meter_.sum_over_ranks(*control_);
  const run::GradNorms norms = meter_.grad_norms();  // the same on every rank: of the averaged gradient
  const int64_t done = epoch + 1;
  const auto [val, test] = evaluate_held_out(done);
  const double lr = lr_at(cfg_, run_->state().global_step - 1, loader_->steps_per_epoch());  // the epoch's last
  // Host seconds blocked in the allreduce's wait: on a GPU the wait is an event the device
  // waits on, and the host times nothing worth a figure, so none is recorded (null).
  const double comm_wait_s = device_.is_cuda() ? run::kNotEvaluated : reducer_->wait_seconds() - wait_before;
  const run::EpochTiming timing{lr, epoch_s, comm_wait_s,
                           dist::max_over_ranks(*control_, monitor::peak_memory_bytes(device_)), flops_per_image_, peak_flops_};
  monitor::Span epoch_end(trace_.get(), monitor::Phase::kEpochEnd);  // the record, and the checkpoint when due
  const auto record = run_->end_epoch(totals, norms, val ? &*val : nullptr, test ? &*test : nullptr, timing,
                                      *model_, *optimizer_);
  if (const infer::EvalResult* held = val ? &*val : test ? &*test : nullptr) {  // validation first: it is every epoch's
    const auto warning = health_.after_epoch(record.train_loss, held->confusion, done == cfg_.epochs);
    if (!warning.empty()) run_->warn(warning);
  }
  if (plot_) plot_->request();  // metrics.jsonl holds the record: curves and report may read it from now on
  epoch_end.end();
  if (trace_) trace_->end_epoch();
  return true;
}

std::pair<std::optional<infer::EvalResult>, std::optional<infer::EvalResult>> Trainer::evaluate_held_out(int64_t done) {
  const auto eval = [&](const data::Split& split) {
    monitor::Span span(trace_.get(), monitor::Phase::kEvaluate);
    return infer::evaluate(model_, split, loader_->batch_options(), *control_, cfg_.batch_size / world_, device_);
  };
  std::optional<infer::EvalResult> val, test;
  if (val_set_) val = eval(*val_set_);
  if (done == cfg_.epochs || (cfg_.test_every > 0 && done % cfg_.test_every == 0)) test = eval(test_set_);
  return {std::move(val), std::move(test)};
}

// One optimizer step (StaticStep: forward and backward per micro-batch, the reducer's hooks
// start the allreduce during the last backward, the update on the device), and the host's
// bookkeeping around it.
void Trainer::step(const data::Step& batch) {
  const int64_t global_step = run_->state().global_step;
  fault_.crash(global_step + 1, rank_);  // NIN_FAULT=kill or exit: a lost rank, for the elastic tests
  fault_.stall(global_step + 1, rank_, *grad_comm_);  // NIN_FAULT=stall: a collective stuck for good
  if (graph_ && batch.images() == graph_batch_) {  // one micro-batch: accumulate = 1 with a graph
    const auto micro = batch.micro(0);
    graph_->run(micro.x, micro.y, dropout_seed(cfg_.seed, global_step, 0, rank_));
    grad_comm_->watch("step " + std::to_string(global_step + 1) + " (a CUDA graph replay with its allreduces)");
  } else {
    step_->run(batch, global_step);  // eager: no graph, or the epoch's shorter last step
  }
  grad_comm_->check();  // a collective the watchdog aborted throws here, before the next step uses it
  fault_.perturb(*model_, global_step + 1, rank_);
  run_->step_done(batch.index() + 1);
}

void Trainer::settle() {
  const Verdict v = step_->settle();
  if (v.first < 0) return;
  const std::string where = position_of(v.first, loader_->steps_per_epoch());
  if (cfg_.on_nonfinite == "stop")
    throw CollectiveFault("non-finite loss or gradient at " + where + "; lower train.lr, or set dist.on_nonfinite = \"skip\"");
  run_->warn("non-finite gradient at " + where + ": step skipped" +
             (v.skipped > 1 ? " (" + std::to_string(v.skipped - 1) + " more since)" : ""));
}

}  // namespace

torch::Device select_device(const std::string& setting, const dist::Process& process) {
  if (setting == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available() && (process.size() == 1 || dist::nccl_available());
  if (!cuda) {
    if (setting == "auto") return torch::kCPU;
    throw InputError("train.device = \"cuda\" but no CUDA device is usable for " +
                     dist::rank_on_host(process.rank(), process.host()) +
                     (torch::cuda::is_available() ? ": this build has no NCCL" : "") + "; use train.device = \"cpu\"");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (process.local_rank() >= count)
    throw InputError(dist::rank_on_host(process.rank(), process.host()) + " is local rank " +
                     std::to_string(process.local_rank()) + " but the host has " + std::to_string(count) +
                     " GPUs: start at most " + std::to_string(count) + " ranks per node");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(process.local_rank()));
}

int64_t select_threads(int64_t setting, const dist::Process& process) {
  if (setting > 0) return setting;
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max<int64_t>(1, cores / process.local_size());
}

int train(const config::Config& cfg, const RunOptions& options, dist::Process& process) {
  run::install_stop_handlers();  // first: a signal during set-up still ends in a checkpoint
  config::validate(cfg, process.size());
  torch::set_num_threads(static_cast<int>(select_threads(cfg.threads, process)));
  return Trainer(cfg, options, process).run();
}

}  // namespace nin::train
