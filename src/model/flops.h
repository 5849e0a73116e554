// FLOPs of one image through a model, counted from its own convolutions at a given size.
#pragma once

#include <cstdint>

#include "model/nin.h"

namespace nin::model {

// Forward FLOPs of one `channels` x `size` x `size` image through every Conv2d of `model`:
// 2 per multiply-add (the convention of MFU reports, PaLM's and llm.c's), convolutions only
// (bias adds, ReLU and pooling are under 1% of NiN's). Runs one image through the model in
// eval mode, without gradients, to learn each convolution's output size.
double forward_flops_per_image(NiN& model, int64_t channels, int64_t size);

// Training FLOPs per image: 3 x forward, the backward pass counted as twice the forward
// (one product for the input's gradient, one for the weights').
double flops_per_image(NiN& model, int64_t channels, int64_t size);

}  // namespace nin::model
