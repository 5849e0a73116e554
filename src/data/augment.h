// Training-time augmentation on uint8 images: random crop with zero padding, horizontal flip.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace nin::data {

struct AugmentOptions {
  int64_t crop_padding = 0;  // pixels of zero padding per side before a random crop back to size; 0 = off
  bool flip = false;         // mirror left-right with probability 1/2
  bool active() const { return crop_padding > 0 || flip; }
};

// Augments [B, H, W] uint8 images on their own device. The draws (offsets, flips) come from
// `seed` alone, on the host, so the result is the same on the CPU and on a GPU and a resumed
// run redraws exactly what an unbroken run drew.
torch::Tensor augment(const torch::Tensor& images, uint64_t seed, const AugmentOptions& options);

}  // namespace nin::data
