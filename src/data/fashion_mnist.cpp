// FashionMNIST split loader: finds the file pair, reads it, checks counts and labels.
#include "data/fashion_mnist.h"

#include <filesystem>
#include <stdexcept>

#include "data/idx.h"
#include "util/error.h"

namespace nin::data {
namespace {

constexpr int64_t kImageDims = 3;  // [N, H, W]
constexpr int64_t kLabelDims = 1;  // [N]

// The .gz file if present, else the raw one; InputError naming both paths otherwise.
std::string find_file(const std::filesystem::path& dir, const std::string& stem) {
  const auto gz = dir / (stem + ".gz");
  const auto raw = dir / stem;
  if (std::filesystem::is_regular_file(gz)) return gz.string();
  if (std::filesystem::is_regular_file(raw)) return raw.string();
  throw InputError(gz.string() + ": not found (nor " + raw.string() + ")");
}

}  // namespace

std::string class_name(int64_t c, int64_t classes) {
  const bool named = classes == int64_t(kFashionMnistClasses.size()) && c >= 0 && c < classes;
  return named ? kFashionMnistClasses[size_t(c)] : "";
}

Split load_split(const std::string& dir, bool train, int64_t num_classes, int64_t limit) {
  if (num_classes < 1) throw std::invalid_argument("load_split: num_classes must be >= 1");
  if (limit < 0) throw std::invalid_argument("load_split: limit must be >= 0 (0 keeps all)");
  if (!std::filesystem::is_directory(dir)) throw InputError(dir + ": data directory not found");

  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  torch::Tensor images = read_idx_u8(images_path, kImageDims);
  torch::Tensor labels = read_idx_u8(labels_path, kLabelDims).to(torch::kInt64);

  if (images.size(0) != labels.size(0)) {
    throw InputError(images_path + ": " + std::to_string(images.size(0)) + " images, but " +
                     labels_path + " has " + std::to_string(labels.size(0)) + " labels");
  }
  const torch::Tensor bad = (labels >= num_classes).nonzero();
  if (bad.size(0) > 0) {
    const int64_t index = bad[0][0].item<int64_t>();
    throw InputError(labels_path + ": label " + std::to_string(labels[index].item<int64_t>()) +
                     " at index " + std::to_string(index) + " is outside 0.." +
                     std::to_string(num_classes - 1));
  }

  if (limit > 0 && limit < images.size(0)) {
    // clone() so the kept slice does not pin the whole file's memory.
    images = images.narrow(0, 0, limit).clone();
    labels = labels.narrow(0, 0, limit).clone();
  }
  return Split{images, labels};
}

}  // namespace nin::data
