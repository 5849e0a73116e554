// The stall and dead-class checks, and their advice.
#include "monitor/health.h"

#include <cmath>
#include <sstream>

#include "data/fashion_mnist.h"

namespace nin::monitor {
namespace {

constexpr double kStallBand = 0.05;  // |loss - ln(classes)| below this counts as stuck

}  // namespace

// ln(classes) is the mean cross-entropy of uniform predictions.
bool Health::off_chance(double loss) const { return std::abs(loss - std::log(double(classes_))) > kStallBand; }

std::string Health::watch_loss(double running_loss, int64_t global_step) {
  if (stall_steps_ <= 0 || stall_warned_) return "";
  if (off_chance(running_loss)) stalled_since_ = -1;
  else if (stalled_since_ < 0) stalled_since_ = global_step;
  else if (global_step - stalled_since_ >= stall_steps_) {
    stall_warned_ = true;
    std::ostringstream w;
    w << "the training loss has stayed at ln(" << classes_ << ") = " << std::log(static_cast<double>(classes_))
      << " for " << stall_steps_ << " steps: the network predicts uniformly. NiN does this when the learning rate is "
      << "too high for it (try a lower train.lr, or adam with 1e-3) or when its ReLUs die before the global "
      << "average pool.";
    return w.str();
  }
  return "";
}

// NiN's last ReLU sits before the global average pool: a class whose channel dies there
// is never predicted again. A class counts as dead when no test image was predicted as it
// at two evaluations in a row (or at the last one) once the loss has left ln(classes):
// early in training a live class is often not predicted yet.
std::string Health::after_epoch(double train_loss, const torch::Tensor& confusion, bool last_epoch) {
  loss_moved_ = loss_moved_ || off_chance(train_loss);
  if (!loss_moved_) return "";
  const auto predicted = confusion.sum(0);
  std::vector<bool> unpredicted(size_t(predicted.size(0)));
  std::string dead;
  for (int64_t c = 0; c < predicted.size(0); ++c) {
    unpredicted[size_t(c)] = predicted[c].item<int64_t>() == 0;
    const bool before = size_t(c) < unpredicted_.size() && unpredicted_[size_t(c)];
    if (!unpredicted[size_t(c)] || !(before || last_epoch)) continue;
    const std::string name = data::class_name(c, predicted.size(0));
    dead += (dead.empty() ? "" : ", ") + std::to_string(c) + (name.empty() ? "" : " (" + name + ")");
  }
  unpredicted_ = unpredicted;
  const bool changed = dead != dead_classes_;
  dead_classes_ = dead;
  if (dead.empty() || !changed) return "";
  const bool one = dead.find(',') == std::string::npos;
  return (one ? "class " : "classes ") + dead + (one ? " was" : " were") + " never predicted: " +
         (one ? "its channel" : "their channels") + " before the global average pool may be shut (see " +
         "model.class_bias and train.lr), or training is still too short";
}

}  // namespace nin::monitor
