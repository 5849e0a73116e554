// What a run warns about while it trains: a loss stuck at chance, classes never predicted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace nin::monitor {

// Each check returns the warning to print, or "" (each is said once, or when it changes).
class Health {
 public:
  // `stall_steps`: train.stall_steps, 0 = no stall check.
  Health(int64_t num_classes, int64_t stall_steps) : classes_(num_classes), stall_steps_(stall_steps) {}

  // With the running loss whenever progress is printed, at optimizer step `global_step`.
  std::string watch_loss(double running_loss, int64_t global_step);
  // After each evaluation: the epoch's training loss and the test confusion matrix [true, predicted].
  std::string after_epoch(double train_loss, const torch::Tensor& confusion, bool last_epoch);

 private:
  bool off_chance(double loss) const;

  int64_t classes_, stall_steps_;
  int64_t stalled_since_ = -1;     // global step the loss entered the ln(classes) band; -1 = not in it
  bool stall_warned_ = false;
  bool loss_moved_ = false;        // an epoch's training loss has left ln(classes)
  std::vector<bool> unpredicted_;  // per class: no test image predicted as it at the last evaluation
  std::string dead_classes_;       // the classes last reported as never predicted
};

}  // namespace nin::monitor
