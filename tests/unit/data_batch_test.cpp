// make_batch: shapes, scaling, bilinear values checked by hand, normalisation, CUDA parity.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/batch.h"

using nin::data::BatchOptions;
using nin::data::make_batch;

namespace {

torch::Tensor random_images(int64_t n, int64_t h, int64_t w) {
  torch::manual_seed(0);
  return torch::randint(0, 256, {n, h, w}, torch::kUInt8);
}

BatchOptions resize_to(int64_t r) {
  BatchOptions o;
  o.resize = r;
  return o;
}

TEST(MakeBatch, ShapeAndRange) {
  const auto images = random_images(5, 28, 28);
  const auto x = make_batch(images, torch::tensor({4, 0, 2}, torch::kInt64), BatchOptions{});
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, 1, 224, 224}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_GE(x.min().item<float>(), 0.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
}

TEST(MakeBatch, NativeSizeIsGatherAndScale) {
  const auto images = random_images(5, 28, 28);
  const auto idx = torch::tensor({4, 0, 2, 4}, torch::kInt64);
  const auto x = make_batch(images, idx, resize_to(28));
  EXPECT_TRUE(x.equal(images.index_select(0, idx).to(torch::kFloat32).div(255).unsqueeze(1)));
  // int32 indices are accepted too.
  EXPECT_TRUE(x.equal(make_batch(images, idx.to(torch::kInt32), resize_to(28))));
}

TEST(MakeBatch, ConstantImagesStayConstant) {
  auto images = torch::full({2, 28, 28}, 77, torch::kUInt8);
  images[1].fill_(255);
  const auto x = make_batch(images, torch::tensor({0, 1}, torch::kInt64), resize_to(100));
  EXPECT_TRUE(x[0].allclose(torch::full({1, 100, 100}, 77.0f / 255), /*rtol=*/0, /*atol=*/1e-6));
  EXPECT_TRUE(x[1].allclose(torch::ones({1, 100, 100}), /*rtol=*/0, /*atol=*/1e-6));
}

TEST(MakeBatch, BilinearMatchesHandComputedValues) {
  // Pixels 0, 51, 102, 255 -> 0, .2, .4, 1. With align_corners = false, 2 -> 4 samples at
  // source x = -.25 (clamped to 0), .25, .75, 1.25 (clamped to 1): weights
  // [1, 0], [.75, .25], [.25, .75], [0, 1] along each axis.
  const auto images = torch::tensor({0, 51, 102, 255}, torch::kUInt8).view({1, 2, 2});
  const auto x = make_batch(images, torch::tensor({0}, torch::kInt64), resize_to(4));
  const auto expected = torch::tensor({0.0f, 0.05f, 0.15f, 0.2f,    //
                                       0.1f, 0.175f, 0.325f, 0.4f,  //
                                       0.3f, 0.425f, 0.675f, 0.8f,  //
                                       0.4f, 0.55f, 0.85f, 1.0f})
                            .view({1, 1, 4, 4});
  EXPECT_TRUE(x.allclose(expected, /*rtol=*/0, /*atol=*/1e-6)) << x;
}

TEST(MakeBatch, NormalisesAfterScaling) {
  const auto images = random_images(4, 28, 28);
  const auto idx = torch::tensor({1, 3}, torch::kInt64);
  BatchOptions norm = resize_to(64);
  norm.normalize = true;
  const auto plain = make_batch(images, idx, resize_to(64));
  const auto x = make_batch(images, idx, norm);
  EXPECT_TRUE(x.allclose((plain - norm.mean) / norm.std, /*rtol=*/1e-5, /*atol=*/1e-5));
}

TEST(MakeBatch, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto images = random_images(6, 28, 28);
  const auto idx = torch::tensor({5, 1, 1, 0}, torch::kInt64);
  BatchOptions o;
  o.normalize = true;
  const auto cpu = make_batch(images, idx, o);
  const auto gpu_images = images.to(torch::kCUDA);
  const auto a = make_batch(gpu_images, idx.to(torch::kCUDA), o);  // indices on the device
  const auto b = make_batch(gpu_images, idx, o);                   // indices on the host
  EXPECT_TRUE(a.is_cuda());
  EXPECT_TRUE(a.cpu().allclose(cpu, /*rtol=*/1e-4, /*atol=*/1e-4));
  EXPECT_TRUE(a.equal(b));
}

}  // namespace
