// The validation split: its size and class shares, disjoint from what the sampler trains on,
// a pure function of the seed, and the rest covered once per epoch by 2 and 3 ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "data/holdout.h"
#include "data/sampler.h"
#include "test_util.h"

using namespace nin::data;

namespace {

// `n` images whose first pixel is their index (mod 2^16 over two pixels), labels cycling
// unevenly over 3 classes: 1/2 class 0, 1/3 class 1, 1/6 class 2.
Split numbered(int64_t n) {
  auto images = torch::zeros({n, 2, 2}, torch::kUInt8);
  auto labels = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    images[i][0][0] = i % 256, images[i][0][1] = i / 256;
    const int64_t r = i % 6;
    labels[i] = r < 3 ? 0 : r < 5 ? 1 : 2;
  }
  return Split{images, labels};
}

std::vector<int64_t> ids(const Split& s) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < s.size(); ++i) out.push_back(s.images[i][0][0].item<int64_t>() + 256 * s.images[i][0][1].item<int64_t>());
  return out;
}

std::map<int64_t, int64_t> per_class(const Split& s) {
  std::map<int64_t, int64_t> out;
  for (int64_t i = 0; i < s.size(); ++i) ++out[s.labels[i].item<int64_t>()];
  return out;
}

}  // namespace

TEST(HoldOut, SizeAndClassSharesFollowTheTrainingSet) {
  const auto held = hold_out(numbered(600), 100, 7, 3);
  EXPECT_EQ(held.validation.size(), 100);
  EXPECT_EQ(held.train.size(), 500);
  EXPECT_EQ(per_class(held.validation), (std::map<int64_t, int64_t>{{0, 50}, {1, 33}, {2, 17}}));  // 16.67 rounds up
  // Each image's label travels with it.
  const auto all = numbered(600);
  for (const auto* s : {&held.validation, &held.train}) {
    const auto id = ids(*s);
    for (int64_t i = 0; i < s->size(); ++i) ASSERT_TRUE(s->labels[i].equal(all.labels[id[size_t(i)]]));
  }
}

TEST(HoldOut, DisjointFromTheRestAndAPureFunctionOfTheSeed) {
  const auto a = hold_out(numbered(600), 100, 7, 3), b = hold_out(numbered(600), 100, 7, 3);
  EXPECT_EQ(ids(a.validation), ids(b.validation));  // no rank, world size or epoch goes in
  std::vector<int64_t> both = ids(a.validation), rest = ids(a.train);
  both.insert(both.end(), rest.begin(), rest.end());
  std::sort(both.begin(), both.end());
  std::vector<int64_t> every(600);
  std::iota(every.begin(), every.end(), 0);
  EXPECT_EQ(both, every);  // disjoint, and nothing lost
  EXPECT_TRUE(std::is_sorted(rest.begin(), rest.end()));
  EXPECT_NE(ids(hold_out(numbered(600), 100, 8, 3).validation), ids(a.validation));
}

TEST(HoldOut, TheSamplerCoversTheRestOnceAnEpochOnTwoAndThreeRanks) {
  const auto held = hold_out(numbered(600), 101, 3, 3);  // 499 left: padding on 2 and 3 ranks
  const auto rest = ids(held.train);
  const auto held_ids = ids(held.validation);
  const std::set<int64_t> validation(held_ids.begin(), held_ids.end());
  for (int world : {2, 3}) {
    for (int64_t epoch : {0, 1}) {
      std::vector<int64_t> seen;
      for (int rank = 0; rank < world; ++rank) {
        const DistributedSampler sampler(held.train.size(), rank, world, 42, /*shuffle=*/true, /*drop_last=*/false);
        const auto idx = sampler.indices(epoch);
        for (size_t k = 0; k < idx.size(); ++k) {
          const int64_t id = rest[size_t(idx[k])];
          ASSERT_EQ(validation.count(id), 0u) << "a held-out image was trained on";
          if (!sampler.is_padding(int64_t(k))) seen.push_back(id);
        }
      }
      std::sort(seen.begin(), seen.end());
      EXPECT_EQ(seen, rest) << world << " ranks, epoch " << epoch;
    }
  }
}

TEST(HoldOut, RefusesToHoldOutEverything) {
  const auto msg = nin::test::input_error([] { hold_out(numbered(60), 60, 1, 3); });
  EXPECT_NE(msg.find("data.val_split = 60 leaves no training image"), std::string::npos) << msg;
}
