// The loop: set-up in order, then epochs of steps; the step reads top to bottom.
#include "train/trainer.h"

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
#include "run/after_step.h"
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
  void connect();                                   // communicators, the same config, the Run
  void build_model(const std::string& resume);      // model and optimizer, restored when resuming
  void load_data();                                 // splits on the device, the loader
  void open_run_dir(bool overwrite);                // the directory, run.json, the background plot
  void place_on_device();                           // model and optimizer state there, replicas equal
  void build_step();                                // reducer, StaticStep, trace, profile, graph
  void build_after_step();

  bool epoch(int64_t epoch);  // false when preempted
  data::Batch next_batch();
  void step(const data::Batch& batch);
  void end_epoch(int64_t epoch, double epoch_s);
  // The step's verdict (stop, or warn of skipped steps), then the epoch's sums over the ranks
  // (a collective): on every rank, the same.
  checkpoint::EpochSums settle_sync();
  void warn_nonfinite(const Verdict& v);  // throws instead when dist.on_nonfinite = "stop"
  // The held-out splits due after epoch `done` (1-based): validation every epoch, the test
  // set after the last and every eval.test_every epochs; empty where not due.
  std::pair<std::optional<infer::EvalResult>, std::optional<infer::EvalResult>> evaluate_held_out(int64_t done);
  void say_setup() const;

  const config::Config& cfg_;
  const int rank_, world_;
  const dist::Process& process_;
  const torch::Device device_;
  std::unique_ptr<TrainStream> train_stream_;  // a CUDA device's one stream, current from here on
  std::unique_ptr<dist::Communicator> control_;      // small CPU messages
  std::unique_ptr<dist::Communicator> device_comm_;  // gradients, when they live on a GPU
  dist::Communicator* grad_comm_ = nullptr;          // device_comm_ or control_
  std::optional<run::Run> run_;
  monitor::Health health_;
  std::optional<run::BackgroundPlot> plot_;  // rank 0's: curves.svg and report.html
  model::NiN model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::optional<data::Loader> loader_;
  int64_t local_batch_ = 0;  // images per rank per step
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
  std::optional<run::AfterStep> after_step_;
  double wait_before_ = 0;  // the reducer's wait seconds at the epoch's start
};

Trainer::Trainer(const config::Config& cfg, const RunOptions& options, dist::Process& process)
    : cfg_(cfg), rank_(process.rank()), world_(process.size()), process_(process),
      device_(select_device(cfg.device, process)), train_stream_(use_train_stream(device_)),
      health_(cfg.num_classes, cfg.stall_steps), meter_(device_) {
  connect();
  build_model(options.resume);
  load_data();
  open_run_dir(options.overwrite);  // once the inputs were read: bad input leaves no file behind
  place_on_device();
  build_step();
  build_after_step();
  say_setup();
}

void Trainer::connect() {
  if (cfg_.cuda_graph) check_graph_support(device_);  // InputError where no CUDA graph can run
  const auto timeout = config::collective_timeout(cfg_);
  control_ = dist::make_communicator(process_, torch::kCPU, timeout);
  if (device_.is_cuda()) device_comm_ = dist::make_communicator(process_, device_, timeout);
  grad_comm_ = device_comm_ ? device_comm_.get() : control_.get();
  monitor::check_same_config(cfg_, *control_);
  run_.emplace(cfg_, rank_, world_, *control_);  // reads first: bad input leaves no file behind
}

void Trainer::build_model(const std::string& resume) {
  torch::manual_seed(cfg_.seed);
  model_ = infer::make_model(cfg_);
  optimizer_ = make_optimizer(cfg_, model_->parameters());
  run_->resume(resume, model_, *optimizer_);
}

// uint8 on the training device; batches are built there, step by step.
void Trainer::load_data() {
  auto train_set = data::load_split(cfg_.data_dir, /*train=*/true, cfg_.num_classes, cfg_.train_limit);
  if (cfg_.val_split > 0) {  // before anything is sharded: the same images on every rank
    auto held = data::hold_out(train_set, cfg_.val_split, cfg_.seed, cfg_.num_classes);
    train_set = std::move(held.train);
    val_set_ = std::move(held.validation);
  }
  test_set_ = data::load_split(cfg_.data_dir, /*train=*/false, cfg_.num_classes, cfg_.test_limit);
  for (auto* s : {&train_set, val_set_ ? &*val_set_ : nullptr, &test_set_})
    if (s) s->images = s->images.to(device_), s->labels = s->labels.to(device_);
  local_batch_ = cfg_.batch_size / world_;
  loader_.emplace(train_set, data::LoaderOptions{local_batch_, local_batch_ / cfg_.accumulate, rank_, world_,
                                                 cfg_.seed, infer::batch_options(cfg_), infer::augment_options(cfg_)});
}

void Trainer::open_run_dir(bool overwrite) {
  run_->create_dir(overwrite);
  try {  // a page's facts: their loss is said, and training goes on
    run::write_run_json(run_->dir(), *control_, process_.host(), device_.str(), process_.num_nodes());
  } catch (const std::runtime_error& e) {
    run_->warn(e.what());
  }
  if (run_->lead()) plot_.emplace(run_->dir(), [this](const std::string& w) { run_->warn(w); });
}

void Trainer::place_on_device() {
  flops_per_image_ = model::flops_per_image(model_, cfg_.in_channels, cfg_.resize);  // one image, on the CPU
  peak_flops_ = monitor::peak_flops(device_, cfg_.precision);
  model_->to(device_);
  use_channels_last(*model_, cfg_.channels_last);  // before the reducer and the graph see the parameters
  move_optimizer_state(*optimizer_, device_);
  monitor::broadcast_model(*model_, *grad_comm_);  // identical replicas, whatever each rank's seed did
  enable_cudnn_autotune(device_);
}

void Trainer::build_step() {
  reducer_.emplace(model_->parameters(), *grad_comm_, static_cast<int64_t>(cfg_.bucket_mb * kMiB),
                   static_cast<int64_t>(cfg_.first_bucket_mb * kMiB));
  step_.emplace(cfg_, rank_, model_, *optimizer_, *reducer_, meter_, fault_, loader_->steps_per_epoch(),
                run_->state().global_step, device_);
  const auto say = [this](const std::string& s) { run_->say(s); };
  trace_ = monitor::Trace::from_config(cfg_, device_, *control_, rank_, run_->dir(), say);
  step_->trace(trace_.get());
  reducer_->observe(trace_.get());
  profile_ = monitor::Profile::from_config(cfg_, device_, rank_, run_->dir(), say);
  if (cfg_.cuda_graph) {
    graph_ = make_graph_step(device_, [this](const torch::Tensor& x, const torch::Tensor& y) {
      step_->captured_body(x, y);
    }, kGraphWarmupSteps);
  }
}

void Trainer::build_after_step() {
  run::LoopReads reads{
      [this] { return settle_sync(); },
      [this] { step_->write_step_count(); },
      [this](int64_t global_step) { return lr_at(cfg_, global_step, loader_->steps_per_epoch()); }};
  after_step_.emplace(cfg_, *run_, health_, trace_.get(), profile_.get(), model_, *optimizer_, *control_,
                      loader_->steps_per_epoch(), std::move(reads));
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

// The loop: data, step, the run's after-step hook (the syncs are there: util/host_reads.h).
bool Trainer::epoch(int64_t epoch) {
  model_->train();
  loader_->start(epoch, run_->state().step_in_epoch);
  meter_.reset();
  wait_before_ = reducer_->wait_seconds();
  after_step_->start_epoch(epoch);
  while (!loader_->done()) {
    const data::Batch batch = next_batch();
    step(batch);
    if (!(*after_step_)(batch, loader_->done())) return false;  // preempted: the checkpoint is written
  }
  end_epoch(epoch, after_step_->end_steps());
  return true;
}

// The next batch, inside its step's trace window. The stop vote starts once it is loaded:
// in flight during the step, preemption costs the step no wait.
data::Batch Trainer::next_batch() {
  after_step_->before_step(run_->state().step_in_epoch);
  monitor::Span data(trace_.get(), monitor::Phase::kData);
  auto batch = loader_->next();
  data.end();
  run_->start_stop_vote();
  return batch;
}

// `epoch_s`: the wall seconds of the epoch's steps.
void Trainer::end_epoch(int64_t epoch, double epoch_s) {
  grad_comm_->check();
  const auto totals = settle_sync();
  step_->write_step_count();  // the epoch's end may checkpoint, and best.nin
  const rundir::GradNorms norms = meter_.grad_norms_sync();  // the same on every rank: of the averaged gradient
  const int64_t done = epoch + 1;
  const auto [val, test] = evaluate_held_out(done);
  const double lr = lr_at(cfg_, run_->state().global_step - 1, loader_->steps_per_epoch());  // the epoch's last
  // Host seconds blocked in the allreduce's wait: on a GPU the wait is an event the device
  // waits on, and the host times nothing worth a figure, so none is recorded (null).
  const double comm_wait_s = device_.is_cuda() ? rundir::kNotEvaluated : reducer_->wait_seconds() - wait_before_;
  const int64_t peak_mem = dist::max_over_ranks(*control_, monitor::peak_memory_bytes(device_));
  const run::EpochFacts facts{lr, epoch_s, comm_wait_s, peak_mem, flops_per_image_, peak_flops_};
  monitor::Span epoch_end(trace_.get(), monitor::Phase::kEpochEnd);  // the record, and the checkpoint when due
  const auto record = run_->end_epoch(totals, norms, val ? &*val : nullptr, test ? &*test : nullptr, facts,
                                      *model_, *optimizer_);
  if (const infer::EvalResult* held = val ? &*val : test ? &*test : nullptr) {  // validation first: it is every epoch's
    const auto warning = health_.after_epoch(record.train_loss, held->confusion, done == cfg_.epochs);
    if (!warning.empty()) run_->warn(warning);
  }
  if (plot_) plot_->request();  // metrics.jsonl holds the record: curves and report may read it from now on
  epoch_end.end();
  if (trace_) trace_->end_epoch();
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
void Trainer::step(const data::Batch& batch) {
  const int64_t global_step = run_->state().global_step;
  fault_.crash(global_step + 1, rank_);  // NIN_FAULT=kill or exit: a lost rank, for the elastic tests
  fault_.stall(global_step + 1, rank_, *grad_comm_);  // NIN_FAULT=stall: a collective stuck for good
  if (graph_ && batch.images() == local_batch_) {  // one micro-batch: accumulate = 1 with a graph
    const auto micro = batch.micro(0);
    graph_->run(micro.x, micro.y, dropout_seed(cfg_.seed, global_step, 0, rank_));
    grad_comm_->watch("step " + std::to_string(global_step + 1) + " (a CUDA graph replay with its allreduces)");
  } else {
    step_->take(batch, global_step);  // eager: no graph, or the epoch's shorter last step
  }
  grad_comm_->check();  // a collective the watchdog aborted throws here, before the next step uses it
  fault_.perturb(*model_, global_step + 1, rank_);
  run_->step_done(batch.index() + 1);
}

checkpoint::EpochSums Trainer::settle_sync() {
  warn_nonfinite(step_->settle_sync());
  return meter_.sum_over_ranks_sync(*control_);
}

void Trainer::warn_nonfinite(const Verdict& v) {
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
