// Where training stands, as a checkpoint stores it; the epoch's sums are one type for the
// meter, the run's record and the checkpoint.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace nin::checkpoint {

// Sums over images (all ranks, or one rank where said). Doubles count images exactly up to
// 2^53. To add a sum: a field here, in kFields order in as_array/from_array, and its name
// in checkpoint.cpp's NLOHMANN_DEFINE_TYPE line; the meter's tensor follows kFields.
struct EpochSums {
  static constexpr int kFields = 3;
  double loss_sum = 0;  // cross-entropy summed over images
  double correct = 0;   // images classified right
  double seen = 0;      // images

  std::array<double, kFields> as_array() const { return {loss_sum, correct, seen}; }
  static EpochSums from_array(const double* v) { return {v[0], v[1], v[2]}; }

  EpochSums& operator+=(const EpochSums& o) {
    loss_sum += o.loss_sum, correct += o.correct, seen += o.seen;
    return *this;
  }
  double mean_loss() const { return loss_sum / std::max(seen, 1.0); }
  double accuracy() const { return correct / std::max(seen, 1.0); }
};

// Where training stands; a checkpoint taken mid-epoch (preemption) resumes mid-epoch.
// Stored under named keys (to_json and from_json in checkpoint.cpp: store a new field
// there too); a key missing from an older file reads as the default here.
struct TrainState {
  int64_t epoch = 0;          // completed epochs
  int64_t step_in_epoch = 0;  // optimizer steps done in the current epoch
  int64_t global_step = 0;    // optimizer steps since the start
  EpochSums sums;             // the current epoch's so far, all ranks
  double best_val_acc = -1;   // best.nin's validation accuracy (checkpoint.keep_best); -1 = none yet
};

}  // namespace nin::checkpoint
