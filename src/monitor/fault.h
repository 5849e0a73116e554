// Fault injection for the reliability tests: NIN_FAULT=KIND:STEP:RANK.
#pragma once

#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "dist/communicator.h"

namespace nin::monitor {

// Rank RANK poisons its loss with NaN (KIND "nan"), nudges one weight (KIND "perturb"), or
// dies as a lost rank does (KIND "kill": SIGKILL to itself; "exit": exit code 1 without a
// word to its peers), or stalls its collectives for good (KIND "stall": a kernel that never
// ends on the communication stream on CUDA; on CPU ranks, a rank that never enters the
// allreduce) at global step STEP (1-based). Unset: nothing happens.
class Fault {
 public:
  static Fault from_env();  // InputError on a malformed NIN_FAULT
  torch::Tensor poison(const torch::Tensor& loss, int64_t step, int rank) const;
  void perturb(torch::nn::Module& model, int64_t step, int rank) const;
  void crash(int64_t step, int rank) const;  // returns only when no crash is due
  void stall(int64_t step, int rank, dist::Communicator& comm) const;  // on CPU: returns only when not due

 private:
  bool at(const char* kind, int64_t step, int rank) const { return kind_ == kind && step_ == step && rank_ == rank; }
  std::string kind_;
  int64_t step_ = -1;
  int rank_ = -1;
};

}  // namespace nin::monitor
