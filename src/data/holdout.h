// A validation split held out of the training set: fixed by the seed, stratified by class.
#pragma once

#include <cstdint>

#include "data/fashion_mnist.h"

namespace nin::data {

struct HeldOut {
  Split train;       // the rest, in the original order: what the sampler shards
  Split validation;  // in the original order
};

// Holds out `count` images of `split` (on the CPU): each class's share of `count` in
// proportion to its size (largest remainders get the rest), drawn by a Fisher-Yates
// shuffle keyed by `seed` alone. The same on every rank, at any world size, and on resume.
// InputError when count leaves no training image.
HeldOut hold_out(const Split& split, int64_t count, uint64_t seed, int64_t num_classes);

}  // namespace nin::data
