// StaticStep: per-step values live on the device; the _sync functions read them back.
#include "train/step.h"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>

#include "train/foreach_update.h"
#include "train/fused_update.h"
#include "train/grad_clip.h"
#include "train/precision.h"
#include "monitor/trace.h"
#include "util/host_reads.h"
#include "util/splitmix64.h"

namespace nin::train {
namespace F = torch::nn::functional;

torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing) {
  return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

uint64_t dropout_seed(uint64_t seed, int64_t step, int64_t micro, int rank) {
  return splitmix64(seed ^ splitmix64(static_cast<uint64_t>(step) * 1024 + micro) ^ splitmix64(rank + 1)) >> 1;
}

StaticStep::StaticStep(const config::Config& c, int rank, model::NiN model, torch::optim::Optimizer& optimizer,
                       dist::Reducer& reducer, EpochMeter& meter, const monitor::Fault& fault, int64_t steps_per_epoch,
                       int64_t first_step, const torch::Device& device)
    : cfg_(c), rank_(rank), model_(std::move(model)), optimizer_(optimizer), reducer_(reducer), meter_(meter),
      fault_(fault), device_(device), steps_per_epoch_(steps_per_epoch),
      schedule_(c, steps_per_epoch, optimizer, device) {
  const auto counter = [&](int64_t v) { return torch::full({}, v, torch::TensorOptions(device).dtype(torch::kInt64)); };
  step_ = counter(first_step);
  settled_applied_ = adam_steps(optimizer);
  applied_ = counter(settled_applied_);
  skipped_ = counter(0);
  first_bad_ = counter(-1);
  mirrored_lr_ = optimizer_.param_groups().front().options().get_lr();  // make_optimizer's: train.lr
  mirror_lr(first_step);
}

void StaticStep::take(const data::Batch& batch, int64_t global_step) {
  reducer_.zero_grad();
  meter_.begin_step();
  for (int64_t m = 0; m < batch.micro_batches(); ++m) {
    const auto micro = batch.micro(m);
    reducer_.prepare(/*sync=*/micro.last);
    torch::manual_seed(dropout_seed(cfg_.seed, global_step, micro.offset, rank_));
    forward_backward(micro.x, micro.y, micro.weight, global_step);
  }
  {
    monitor::Span wait(trace_, monitor::Phase::kFinalizeWait);
    reducer_.finalize();
  }
  monitor::Span optimizer(trace_, monitor::Phase::kOptimizer);
  update(batch.images());
}

void StaticStep::captured_body(const torch::Tensor& x, const torch::Tensor& y) {
  reducer_.zero_grad();
  meter_.begin_step();
  reducer_.prepare(/*sync=*/true);
  forward_backward(x, y, /*weight=*/1.0, /*global_step=*/-1);  // no fault: refused with a graph
  reducer_.finalize();
  update(x.size(0));
}

void StaticStep::forward_backward(const torch::Tensor& x, const torch::Tensor& y, double weight,
                                  int64_t global_step) {
  monitor::Span forward(trace_, monitor::Phase::kForward);
  torch::Tensor logits;
  {
    AutocastGuard autocast(cfg_.precision, device_);
    logits = model_->forward(in_memory_format(x, cfg_.channels_last));
  }
  const auto loss =
      fault_.poison(training_loss(logits.to(torch::kFloat), y, cfg_.label_smoothing), global_step + 1, rank_);
  forward.end();
  monitor::Span backward(trace_, monitor::Phase::kBackward);
  (loss * weight).backward();  // weighted: the step's gradient is the mean over its images
  backward.end();
  meter_.add(loss, logits, y);
}

// After the allreduce every rank holds the same gradients, so every rank reaches the same
// finite verdict and the same clip without a message. A sum of sums, as a host check would
// take it; the norm is measured every step (the meter records it) and applied only when
// clipping, where a non-finite norm (an overflow of finite gradients too) skips the step.
void StaticStep::update(int64_t images) {
  torch::NoGradGuard no_grad;
  torch::Tensor total;  // a sum of every gradient element: finite or not, one reduction a bucket
  for (const auto& bucket : reducer_.buckets()) total = total.defined() ? total + bucket.sum() : bucket.sum();
  std::vector<torch::Tensor> grads;
  for (const auto& p : model_->parameters()) grads.push_back(p.grad());
  const auto norm = global_norm(grads);
  auto finite = torch::isfinite(total);
  if (cfg_.clip_grad_norm > 0) {
    finite = finite & torch::isfinite(norm);
    clip_to_norm(reducer_.buckets(), norm, cfg_.clip_grad_norm);
  }
  const auto t = applied_ + finite.to(torch::kInt64);  // Adam's count: a skipped step is not one
  const UpdateScalars scalars = schedule_.at(step_, t, finite);
  if (!fused_ || !fused(scalars, t)) foreach_update(optimizer_, scalars);
  applied_.copy_(t);
  skipped_.add_(finite.logical_not().to(torch::kInt64));
  first_bad_.copy_(torch::where(finite.logical_not() & first_bad_.lt(0), step_, first_bad_));
  meter_.commit_step(finite, images, norm);
  step_.add_(1);
}

bool StaticStep::fused(const UpdateScalars& scalars, const torch::Tensor& t) {
  try {
    return fused_ = fused_update(optimizer_, scalars, t);
  } catch (const c10::Error& e) {  // a LibTorch whose kernels take other arguments: said once
    std::cerr << "nin-dist: warning: the fused optimizer kernel refused this run ("
              << e.what_without_backtrace() << "); using the _foreach update" << std::endl;
    return fused_ = false;
  }
}

Verdict StaticStep::settle_sync() {
  count_host_read();
  const auto read = torch::stack({skipped_, first_bad_, step_, applied_}).to(torch::kCPU);
  skipped_.zero_();
  first_bad_.fill_(-1);
  mirror_lr(read[2].item<int64_t>());
  settled_applied_ = read[3].item<int64_t>();
  return {read[0].item<int64_t>(), read[1].item<int64_t>()};
}

void StaticStep::write_step_count() { set_adam_steps(optimizer_, settled_applied_); }

void StaticStep::mirror_lr(int64_t steps_run) {
  for (const auto& group : optimizer_.param_groups())
    if (group.options().get_lr() != mirrored_lr_)
      throw std::logic_error("a param group's lr was set to " + std::to_string(group.options().get_lr()) +
                             ": the update reads the lr from DeviceSchedule (train.lr and its schedule), not there");
  mirrored_lr_ = lr_at(cfg_, std::max<int64_t>(steps_run - 1, 0), steps_per_epoch_);
  for (auto& group : optimizer_.param_groups()) group.options().set_lr(mirrored_lr_);
}

}  // namespace nin::train
