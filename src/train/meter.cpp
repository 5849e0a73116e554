// Device-side sums of the epoch's loss, correct predictions and images.
#include "train/meter.h"

#include <algorithm>

#include "util/host_reads.h"

namespace nin::train {

// Doubles hold image counts exactly up to 2^53, and one tensor is one transfer when read.
EpochMeter::EpochMeter(const torch::Device& device)
    : sums_(torch::zeros({3}, torch::TensorOptions(device).dtype(torch::kDouble))), step_(torch::zeros_like(sums_)) {}

void EpochMeter::reset() { sums_.zero_(); }

void EpochMeter::begin_step() { step_.zero_(); }

void EpochMeter::add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  step_[0] += loss.detach().to(torch::kDouble) * double(labels.size(0));  // mean -> sum
  step_[1] += (logits.argmax(1) == labels).sum();
}

void EpochMeter::commit_step(const torch::Tensor& applied, int64_t images) {
  step_[2].fill_(double(images));
  sums_.add_(torch::where(applied, step_, torch::zeros_like(step_)));
}

double EpochMeter::running_loss() const {
  count_host_read();
  const auto sums = sums_.to(torch::kCPU);
  return sums[0].item<double>() / std::max(sums[2].item<double>(), 1.0);
}

EpochTotals EpochMeter::sum_over_ranks(dist::Communicator& control) const {
  count_host_read();
  auto sums = sums_.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
  control.allreduce(sums, dist::ReduceOp::kSum);
  return {sums[0].item<double>(), sums[1].item<double>(), sums[2].item<double>()};
}

}  // namespace nin::train
