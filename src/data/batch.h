// Turns uint8 images into a network-ready float batch, on whatever device they live.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace nin::data {

struct BatchOptions {
  int64_t resize = 224;   // output height and width, pixels
  bool normalize = false; // subtract mean, divide by std after scaling to [0, 1]
  double mean = 0.2860;   // FashionMNIST train-set mean
  double std = 0.3530;    // FashionMNIST train-set standard deviation
};

// Gathers images[indices] ([N, H, W] uint8) into a [B, 1, resize, resize] float batch:
// scaled to [0, 1], resized bilinearly (align_corners = false, as torchvision's Resize
// for upsampling), optionally normalised. Runs on the device of `images`.
torch::Tensor make_batch(const torch::Tensor& images, const torch::Tensor& indices,
                         const BatchOptions& options);
// The same for images already gathered ([B, H, W] uint8, e.g. augmented ones).
torch::Tensor to_network_input(const torch::Tensor& images, const BatchOptions& options);

}  // namespace nin::data
