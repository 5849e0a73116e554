// The epoch's training sums: one type for the meter, the run's record and the checkpoint.
#pragma once

#include <algorithm>
#include <array>

namespace nin::train {

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

}  // namespace nin::train
