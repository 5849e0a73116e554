// FLOPs per image counted from the model against the closed form of NiN's convolutions.
#include <gtest/gtest.h>

#include <cmath>

#include "model/flops.h"
#include "monitor/device_stats.h"

namespace {

// The seed's NiN by hand: per block a k x k conv (2 x cin x cout x k^2 per output pixel) and
// two 1x1 convs (2 x cout^2 each), 3x3/2 max-pools between the first three blocks.
double closed_form_forward(int64_t in_channels, int64_t classes, int64_t size) {
  const auto out = [](int64_t h, int64_t k, int64_t s, int64_t p) { return (h + 2 * p - k) / s + 1; };
  struct Block { int64_t cin, cout, k, s, p; bool pool; };
  const Block blocks[] = {{in_channels, 96, 11, 4, 0, true}, {96, 256, 5, 1, 2, true}, {256, 384, 3, 1, 1, true},
                          {384, classes, 3, 1, 1, false}};
  double total = 0;
  int64_t h = size;
  for (const auto& b : blocks) {
    h = out(h, b.k, b.s, b.p);
    total += 2.0 * b.cin * b.cout * b.k * b.k * h * h + 2 * 2.0 * b.cout * b.cout * h * h;
    if (b.pool) h = out(h, 3, 2, 0);
  }
  return total;
}

}  // namespace

TEST(ModelFlops, CountedFromTheModelEqualsTheClosedForm) {
  for (const auto& [channels, classes, size] : {std::tuple{1, 10, 67}, std::tuple{3, 7, 96}}) {
    nin::model::NiN model(nin::model::NiNOptions{channels, classes});
    const double want = closed_form_forward(channels, classes, size);
    EXPECT_DOUBLE_EQ(nin::model::forward_flops_per_image(model, channels, size), want) << size;
    EXPECT_DOUBLE_EQ(nin::model::flops_per_image(model, channels, size), 3 * want) << size;  // forward + backward
    EXPECT_TRUE(model->is_training());  // left as it was
  }
}

// The figure the docs quote and bench/gpu/report.py reads from metrics.jsonl: 4.57e9 FLOP per
// training image at 224 px.
TEST(ModelFlops, SeedSizeMatchesTheBenchReport) {
  nin::model::NiN model;
  EXPECT_EQ(std::round(nin::model::flops_per_image(model, 1, 224) / 1e7), 457);
}

TEST(DeviceStats, PeakTableByNameAndMath) {
  using nin::monitor::peak_flops_of;
  EXPECT_EQ(nin::monitor::peak_flops_of("NVIDIA H100 80GB HBM3", "bf16"), 989.5e12);
  EXPECT_EQ(nin::monitor::peak_flops_of("NVIDIA H100 PCIe", "tf32"), 378e12);  // not the SXM part's
  EXPECT_EQ(nin::monitor::peak_flops_of("NVIDIA H200", "fp32"), 67e12);
  EXPECT_EQ(nin::monitor::peak_flops_of("NVIDIA H200 NVL", "bf16"), 835e12);
  EXPECT_EQ(nin::monitor::peak_flops_of("NVIDIA A100-SXM4-80GB", "tf32"), 156e12);
  EXPECT_TRUE(std::isnan(nin::monitor::peak_flops_of("NVIDIA GeForce RTX 4090", "bf16")));
  EXPECT_TRUE(std::isnan(nin::monitor::peak_flops_of("NVIDIA H100 80GB HBM3", "fp8")));
  EXPECT_TRUE(std::isnan(nin::monitor::peak_flops(torch::kCPU, "fp32")));  // no MFU on a CPU
  EXPECT_GT(nin::monitor::peak_memory_bytes(torch::kCPU), 1 << 20);  // this process's RSS, bytes
}
