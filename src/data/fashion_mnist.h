// FashionMNIST train and test splits held as uint8 tensors (about 55 MB in all).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <torch/types.h>

namespace nin::data {

inline constexpr std::array<const char*, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// The FashionMNIST name of class `c` when the model has its 10 classes; "" otherwise (a
// dataset with other labels: they have no names here).
std::string class_name(int64_t c, int64_t classes);

struct Split {
  torch::Tensor images;  // [N, H, W] uint8, never converted to float as a whole
  torch::Tensor labels;  // [N] int64, each in 0..num_classes-1
  int64_t size() const { return labels.size(0); }
};

// Loads `train-{images-idx3,labels-idx1}-ubyte[.gz]` (or the `t10k-` pair) from `dir`.
// Checks that image and label counts match and that labels lie in 0..num_classes-1.
// `limit` > 0 keeps only the first `limit` examples. Errors are InputError naming the file.
Split load_split(const std::string& dir, bool train, int64_t num_classes, int64_t limit = 0);

}  // namespace nin::data
