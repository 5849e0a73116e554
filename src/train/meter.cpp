// Device-side sums of the epoch's loss and correct predictions.
#include "train/meter.h"

#include <algorithm>

namespace nin::train {

EpochMeter::EpochMeter(const torch::Device& device)
    : loss_sum_(torch::zeros({}, torch::TensorOptions(device).dtype(torch::kDouble))),
      correct_(torch::zeros({}, torch::TensorOptions(device).dtype(torch::kInt64))) {}

void EpochMeter::begin_step() {
  step_loss_ = torch::zeros_like(loss_sum_);
  step_correct_ = torch::zeros_like(correct_);
}

void EpochMeter::add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  step_loss_ += loss.detach().to(torch::kDouble) * double(labels.size(0));  // mean -> sum
  step_correct_ += (logits.argmax(1) == labels).sum();
}

void EpochMeter::commit_step(int64_t images) {
  loss_sum_ += step_loss_;
  correct_ += step_correct_;
  seen_ += images;
}

double EpochMeter::running_loss() const { return loss_sum_.item<double>() / std::max<int64_t>(seen_, 1); }

EpochTotals EpochMeter::sum_over_ranks(dist::Communicator& control) const {
  auto sums = torch::tensor({loss_sum_.item<double>(), double(correct_.item<int64_t>()), double(seen_)}, torch::kDouble);
  control.allreduce(sums, dist::ReduceOp::kSum);
  return {sums[0].item<double>(), sums[1].item<double>(), sums[2].item<double>()};
}

}  // namespace nin::train
