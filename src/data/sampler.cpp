// Per-epoch permutation and PyTorch-style sharding with wrap-around padding.
#include "data/sampler.h"

#include <numeric>
#include <random>
#include <stdexcept>

#include "util/splitmix64.h"

namespace nin::data {

std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch) {
  if (n < 0) throw std::invalid_argument("permutation: n must be >= 0");
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  // mt19937_64's output is fixed by the standard; std::shuffle and uniform_int_distribution
  // are not, so Fisher-Yates draws with a plain modulo (bias below n / 2^64, negligible).
  std::mt19937_64 rng(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch))));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, int rank, int world, uint64_t seed,
                                       bool shuffle, bool drop_last)
    : dataset_size_(dataset_size), rank_(rank), world_(world), seed_(seed), shuffle_(shuffle) {
  if (world < 1) throw std::invalid_argument("DistributedSampler: world must be >= 1");
  if (rank < 0 || rank >= world) {
    throw std::invalid_argument("DistributedSampler: rank " + std::to_string(rank) +
                                " outside 0.." + std::to_string(world - 1));
  }
  if (dataset_size < 1)
    throw std::invalid_argument("DistributedSampler: dataset_size must be >= 1");
  // As torch.utils.data.DistributedSampler: drop_last drops the uneven tail, else pad.
  num_samples_ = drop_last ? dataset_size / world : (dataset_size + world - 1) / world;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> order;
  if (shuffle_) {
    order = permutation(dataset_size_, seed_, epoch);
  } else {
    order.resize(static_cast<size_t>(dataset_size_));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  // Position pos of the padded list is order[pos % size]: padding repeats from the start,
  // wrapping as often as needed; with drop_last every pos is already < size.
  std::vector<int64_t> mine(static_cast<size_t>(num_samples_));
  for (int64_t k = 0; k < num_samples_; ++k) {
    mine[static_cast<size_t>(k)] = order[static_cast<size_t>((rank_ + k * world_) % dataset_size_)];
  }
  return mine;
}

}  // namespace nin::data
