// Batch assembly: gather on uint8, scale on the small image, then one bilinear resize.
#include "data/batch.h"

#include <torch/nn/functional/upsampling.h>

#include <stdexcept>

namespace nin::data {

torch::Tensor make_batch(const torch::Tensor& images, const torch::Tensor& indices,
                         const BatchOptions& options) {
  if (images.dim() != 3 || images.scalar_type() != torch::kUInt8) {
    throw std::invalid_argument("make_batch: images must be [N, H, W] uint8");
  }
  if (indices.dim() != 1) throw std::invalid_argument("make_batch: indices must be 1-D");
  // Gather before converting: one byte per pixel moved instead of four. to() is a no-op
  // when the indices already are int64 on the images' device.
  const torch::Tensor idx = indices.to(images.device(), torch::kInt64, /*non_blocking=*/true);
  return to_network_input(images.index_select(0, idx), options);
}

torch::Tensor to_network_input(const torch::Tensor& images, const BatchOptions& options) {
  if (images.dim() != 3 || images.scalar_type() != torch::kUInt8) {
    throw std::invalid_argument("make_batch: images must be [N, H, W] uint8");
  }
  if (options.resize < 1) throw std::invalid_argument("make_batch: resize must be >= 1");
  torch::Tensor x = images.to(torch::kFloat32).div_(255.0).unsqueeze(1);
  // Bilinear weights sum to one, so normalising before the resize gives the same result
  // on 28x28 pixels instead of resize^2.
  if (options.normalize) x.sub_(options.mean).div_(options.std);
  if (x.size(2) == options.resize && x.size(3) == options.resize) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{options.resize, options.resize})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace nin::data
