// Loader: steps cover each rank's shard once, micro-batches split a step with weights
// summing to one, and a loader started mid-epoch yields the batches an unbroken one does.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <set>
#include <vector>

#include "data/augment.h"
#include "data/loader.h"

using nin::data::Loader;
using nin::data::LoaderOptions;
using nin::data::Split;

namespace {

// Image i is filled with the value i % 256 and labelled i % 10, so a batch says which
// images it holds.
Split numbered_split(int64_t n) {
  Split s;
  s.images = torch::arange(n, torch::kInt64).remainder(256).to(torch::kUInt8).view({n, 1, 1}).expand({n, 4, 4}).contiguous();
  s.labels = torch::arange(n, torch::kInt64).remainder(10);
  return s;
}

LoaderOptions options(int64_t local, int64_t micro, int rank, int world) {
  LoaderOptions o;
  o.local_batch = local;
  o.micro_batch = micro;
  o.rank = rank;
  o.world = world;
  o.seed = 7;
  o.batch.resize = 4;
  return o;
}

// The image numbers of one micro-batch, read back from its pixels.
std::vector<int64_t> numbers(const torch::Tensor& x) {
  const auto v = x.select(1, 0).select(1, 0).select(1, 0).mul(255).round().to(torch::kInt64);
  return std::vector<int64_t>(v.data_ptr<int64_t>(), v.data_ptr<int64_t>() + v.numel());
}

TEST(Loader, StepsCoverEveryRanksShardOnce) {
  const int world = 3;
  std::multiset<int64_t> all;
  for (int r = 0; r < world; ++r) {
    Loader loader(numbered_split(100), options(8, 8, r, world));
    EXPECT_EQ(loader.steps_per_epoch(), 5);  // 34 images a rank (padded), 8 a step
    loader.start(/*epoch=*/2);
    int64_t images = 0;
    while (!loader.done()) {
      const auto step = loader.next();
      for (int64_t m = 0; m < step.micro_batches(); ++m)
        for (auto i : numbers(step.micro(m).x)) all.insert(i);
      images += step.images();
    }
    EXPECT_EQ(images, 34);  // ceil(100 / 3): this rank's shard, padding included
  }
  for (int64_t i = 0; i < 100; ++i) EXPECT_GE(all.count(i), 1u) << "image " << i;
  EXPECT_EQ(all.size(), 102u);  // 2 padding repeats
}

TEST(Loader, MicroBatchesSplitAStep) {
  Loader loader(numbered_split(50), options(16, 6, 0, 1));
  loader.start(0);
  const auto step = loader.next();
  ASSERT_EQ(step.micro_batches(), 3);  // 6 + 6 + 4
  double weights = 0;
  for (int64_t m = 0; m < 3; ++m) {
    const auto micro = step.micro(m);
    EXPECT_EQ(micro.offset, 6 * m);
    EXPECT_EQ(micro.last, m == 2);
    EXPECT_EQ(micro.y.size(0), m == 2 ? 4 : 6);
    EXPECT_TRUE(micro.y.equal(torch::tensor(numbers(micro.x)).remainder(10)));
    weights += micro.weight;
  }
  EXPECT_DOUBLE_EQ(weights, 1.0);
  EXPECT_THROW(step.micro(3), std::out_of_range);
}

TEST(Loader, StartingMidEpochMatchesAnUnbrokenEpoch) {
  Loader a(numbered_split(64), options(8, 4, 1, 2));
  Loader b(numbered_split(64), options(8, 4, 1, 2));
  a.start(3);
  b.start(3, /*first_step=*/2);
  a.next(), a.next();
  while (!a.done()) {
    ASSERT_FALSE(b.done());
    const auto sa = a.next(), sb = b.next();
    EXPECT_EQ(sa.index(), sb.index());
    EXPECT_EQ(numbers(sa.micro(1).x), numbers(sb.micro(1).x));
  }
  EXPECT_TRUE(b.done());
  EXPECT_THROW(b.next(), std::out_of_range);
}

TEST(Loader, EpochsDrawDifferentOrders) {
  Loader loader(numbered_split(64), options(64, 64, 0, 1));
  loader.start(0);
  const auto first = numbers(loader.next().micro(0).x);
  loader.start(1);
  EXPECT_NE(numbers(loader.next().micro(0).x), first);
  loader.start(0);
  EXPECT_EQ(numbers(loader.next().micro(0).x), first);
}

}  // namespace

namespace {

using nin::data::AugmentOptions;
using nin::data::augment;

torch::Tensor random_u8(int64_t n, int64_t h, int64_t w) {
  torch::manual_seed(3);
  return torch::randint(1, 256, {n, h, w}, torch::kUInt8);  // no zeros: padding shows as 0
}

// Each output is the input, or its mirror image, and both occur.
TEST(Augment, FlipMirrorsSomeImagesAndKeepsTheRest) {
  const auto x = random_u8(64, 6, 5);
  const auto y = augment(x, 11, AugmentOptions{0, true});
  int flipped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const bool same = y[i].equal(x[i]), mirrored = y[i].equal(x[i].flip({1}));
    EXPECT_TRUE(same || mirrored) << "image " << i;
    flipped += mirrored;
  }
  EXPECT_GT(flipped, 10);
  EXPECT_LT(flipped, 54);
}

// Each output is a window of the zero-padded input at some offset in [0, 2p]^2.
TEST(Augment, CropIsAWindowOfThePaddedImage) {
  const int64_t p = 2;
  const auto x = random_u8(32, 7, 7);
  const auto y = augment(x, 5, AugmentOptions{p, false});
  const auto padded = torch::constant_pad_nd(x, {p, p, p, p}, 0);
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (int64_t i = 0; i < 32; ++i) {
    bool found = false;
    for (int64_t dy = 0; dy <= 2 * p && !found; ++dy)
      for (int64_t dx = 0; dx <= 2 * p && !found; ++dx)
        if (y[i].equal(padded[i].slice(0, dy, dy + 7).slice(1, dx, dx + 7))) found = true, offsets.insert({dy, dx});
    EXPECT_TRUE(found) << "image " << i;
  }
  EXPECT_GT(offsets.size(), 5u);  // the offsets vary
}

// The draws are a pure function of (seed, epoch, step, rank): two loaders agree, a resumed
// one redraws what the unbroken one drew, another epoch or rank draws differently.
TEST(Augment, LoaderDrawsArePureFunctionsOfThePosition) {
  auto opts = options(8, 4, 0, 2);
  opts.augment = AugmentOptions{2, true};
  Loader a(numbered_split(64), opts), b(numbered_split(64), opts);
  a.start(1);
  b.start(1, /*first_step=*/1);
  a.next();
  const auto sa = a.next(), sb = b.next();
  EXPECT_TRUE(sa.micro(1).x.equal(sb.micro(1).x));
  EXPECT_FALSE(sa.micro(0).x.equal(sa.micro(1).x));
  auto other_rank = opts;
  other_rank.rank = 1;
  Loader c(numbered_split(64), other_rank);
  c.start(1, 1);
  EXPECT_FALSE(c.next().micro(1).x.equal(sb.micro(1).x));
  opts.augment = AugmentOptions{};
  Loader plain(numbered_split(64), opts);
  plain.start(1, 1);
  const auto sp = plain.next();
  EXPECT_EQ(sp.micro(1).y.sizes(), sb.micro(1).y.sizes());
  EXPECT_TRUE(sp.micro(1).y.equal(sb.micro(1).y));  // the same images, augmented
  EXPECT_FALSE(sp.micro(1).x.equal(sb.micro(1).x));
}

}  // namespace
