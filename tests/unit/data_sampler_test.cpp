// Sampler: per-epoch permutations and PyTorch DistributedSampler sharding, for many worlds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include "data/sampler.h"

using nin::data::DistributedSampler;
using nin::data::permutation;

namespace {

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

TEST(Permutation, DeterministicPerSeedAndEpoch) {
  EXPECT_EQ(permutation(101, 7, 3), permutation(101, 7, 3));
  EXPECT_NE(permutation(101, 7, 3), permutation(101, 7, 4));
  EXPECT_NE(permutation(101, 7, 3), permutation(101, 8, 3));
  EXPECT_NE(permutation(101, 0, 0), iota(101));
}

TEST(Permutation, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 10, 101, 60000}) {
    auto p = permutation(n, 42, 1);
    std::sort(p.begin(), p.end());
    EXPECT_EQ(p, iota(n)) << "n=" << n;
  }
}

// mt19937_64's output is fixed by the C++ standard and the draw is plain modulo, so this
// holds on every platform and standard library; a change here reshuffles old runs.
TEST(Permutation, FrozenValue) {
  EXPECT_EQ(permutation(10, 42, 0), (std::vector<int64_t>{9, 6, 2, 0, 1, 4, 3, 8, 5, 7}));
}

TEST(DistributedSampler, ShardsLikePyTorch) {
  for (int world = 1; world <= 5; ++world) {
    for (int64_t size : {1, 2, 10, 11, 101}) {
      for (bool shuffle : {false, true}) {
        SCOPED_TRACE("world=" + std::to_string(world) + " size=" + std::to_string(size) +
                     " shuffle=" + std::to_string(shuffle));
        const int64_t epoch = 5;
        const auto full = shuffle ? permutation(size, 9, epoch) : iota(size);
        const int64_t num_samples = (size + world - 1) / world;
        std::multiset<int64_t> seen;
        int64_t padding = 0;
        for (int rank = 0; rank < world; ++rank) {
          const DistributedSampler s(size, rank, world, /*seed=*/9, shuffle, /*drop_last=*/false);
          ASSERT_EQ(s.num_samples(), num_samples);
          const auto mine = s.indices(epoch);
          ASSERT_EQ(static_cast<int64_t>(mine.size()), num_samples);
          for (int64_t k = 0; k < num_samples; ++k) {
            const int64_t pos = rank + k * world;  // position in the padded list
            EXPECT_EQ(mine[k], full[pos % size]);  // padding wraps to the list's start
            EXPECT_EQ(s.is_padding(k), pos >= size);
            padding += s.is_padding(k);
            seen.insert(mine[k]);
          }
        }
        EXPECT_EQ(padding, num_samples * world - size);
        EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), static_cast<size_t>(size));
        if (size % world == 0) {
          EXPECT_EQ(seen.size(), static_cast<size_t>(size));  // disjoint: no repeats
        }
      }
    }
  }
}

TEST(DistributedSampler, DropLastDropsTheTail) {
  for (int world = 1; world <= 5; ++world) {
    for (int64_t size : {10, 11, 101}) {
      SCOPED_TRACE("world=" + std::to_string(world) + " size=" + std::to_string(size));
      const auto full = permutation(size, 3, 0);
      std::set<int64_t> seen;
      for (int rank = 0; rank < world; ++rank) {
        const DistributedSampler s(size, rank, world, /*seed=*/3, /*shuffle=*/true,
                                   /*drop_last=*/true);
        EXPECT_EQ(s.num_samples(), size / world);
        const auto mine = s.indices(0);
        for (int64_t k = 0; k < s.num_samples(); ++k) {
          EXPECT_EQ(mine[k], full[rank + k * world]);
          EXPECT_FALSE(s.is_padding(k));
          EXPECT_TRUE(seen.insert(mine[k]).second) << "repeated " << mine[k];
        }
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), size / world * world);  // the tail is dropped
    }
  }
}

TEST(DistributedSampler, PadsByWrappingMoreThanOnce) {
  // 2 samples over 5 ranks: PyTorch pads [a, b] to [a, b, a, b, a].
  const auto full = permutation(2, 1, 0);
  for (int rank = 0; rank < 5; ++rank) {
    const DistributedSampler s(2, rank, 5, /*seed=*/1, /*shuffle=*/true, /*drop_last=*/false);
    EXPECT_EQ(s.indices(0), (std::vector<int64_t>{full[rank % 2]}));
  }
  EXPECT_EQ(DistributedSampler(2, 0, 5, 1, true, /*drop_last=*/true).num_samples(), 0);
}

TEST(DistributedSampler, EpochsReshuffle) {
  const DistributedSampler s(101, 1, 3, /*seed=*/0, /*shuffle=*/true, /*drop_last=*/false);
  EXPECT_EQ(s.indices(2), s.indices(2));
  EXPECT_NE(s.indices(2), s.indices(3));
  const DistributedSampler plain(10, 1, 3, 0, /*shuffle=*/false, false);
  EXPECT_EQ(plain.indices(0), (std::vector<int64_t>{1, 4, 7, 0}));
}

TEST(DistributedSampler, RejectsBadArguments) {
  EXPECT_THROW(DistributedSampler(10, 0, 0, 0, true, false), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(10, -1, 2, 0, true, false), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(10, 2, 2, 0, true, false), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(0, 0, 1, 0, true, false), std::invalid_argument);
}

}  // namespace
