// Distributed sampler with the semantics of PyTorch's DistributedSampler.
#pragma once

#include <cstdint>
#include <vector>

namespace nin::data {

// One permutation of 0..size-1 per epoch, a pure function of (seed, epoch) and identical
// on every rank, padded by wrapping around to a multiple of `world` (or truncated with
// drop_last). Rank r takes positions r, r+world, r+2*world, ...
class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, int rank, int world, uint64_t seed,
                     bool shuffle, bool drop_last);

  // This rank's dataset indices for `epoch`; num_samples() long.
  std::vector<int64_t> indices(int64_t epoch) const;
  int64_t num_samples() const { return num_samples_; }  // per rank
  // True when this rank's k-th sample is padding (a repeat), so evaluation skips it.
  bool is_padding(int64_t k) const { return rank_ + k * world_ >= dataset_size_; }

 private:
  int64_t dataset_size_;
  int rank_;
  int world_;
  uint64_t seed_;
  bool shuffle_;
  int64_t num_samples_;
};

// The permutation of 0..n-1 for (seed, epoch); platform-independent.
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace nin::data
