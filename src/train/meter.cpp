// Device-side sums of the epoch's loss, correct predictions and images, and its gradient norms.
#include "train/meter.h"

#include <algorithm>

#include "util/host_reads.h"

namespace nin::train {

// One tensor is one transfer when read.
EpochMeter::EpochMeter(const torch::Device& device)
    : sums_(torch::zeros({checkpoint::EpochSums::kFields}, torch::TensorOptions(device).dtype(torch::kDouble))),
      step_(torch::zeros_like(sums_)), norms_(torch::zeros({3}, sums_.options())) {}

void EpochMeter::reset() {
  sums_.zero_();
  norms_.zero_();  // norms are >= 0: 0 starts the max
}

void EpochMeter::begin_step() { step_.zero_(); }

void EpochMeter::add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  step_[0] += loss.detach().to(torch::kDouble) * double(labels.size(0));  // mean -> sum
  step_[1] += (logits.argmax(1) == labels).sum();
}

void EpochMeter::commit_step(const torch::Tensor& applied, int64_t images, const torch::Tensor& grad_norm) {
  step_[2].fill_(double(images));
  sums_.add_(torch::where(applied, step_, torch::zeros_like(step_)));
  // sum, count and max, where the step was applied: a skipped step's norm may be NaN.
  const auto norm = grad_norm.detach().to(torch::kDouble);
  norms_.copy_(torch::where(applied, torch::stack({norms_[0] + norm, norms_[1] + 1, torch::maximum(norms_[2], norm)}),
                            norms_));
}

checkpoint::EpochSums EpochMeter::sum_over_ranks_sync(dist::Communicator& control) const {
  count_host_read();
  auto sums = sums_.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
  control.allreduce(sums, dist::ReduceOp::kSum);
  return checkpoint::EpochSums::from_array(sums.data_ptr<double>());
}

rundir::GradNorms EpochMeter::grad_norms_sync() const {
  count_host_read();
  const auto n = norms_.to(torch::kCPU);
  const double* v = n.data_ptr<double>();
  return {v[0] / std::max(v[1], 1.0), v[2]};
}

}  // namespace nin::train
