// Crop and flip as one gather: each output pixel reads one padded input pixel.
#include "data/augment.h"

#include "data/host_copy.h"

#include <random>
#include <stdexcept>

#include <torch/nn/functional/padding.h>

namespace nin::data {

torch::Tensor augment(const torch::Tensor& images, uint64_t seed, const AugmentOptions& options) {
  if (images.dim() != 3) throw std::invalid_argument("augment: images must be [B, H, W]");
  if (options.crop_padding < 0) throw std::invalid_argument("augment: crop_padding must be >= 0");
  if (!options.active()) return images;
  const int64_t b = images.size(0), h = images.size(1), w = images.size(2), p = options.crop_padding;
  // Host draws from mt19937_64, whose output the standard fixes: offsets in [0, 2p], flips;
  // rows dy, dx, flip of one tensor, so that one copy without a host sync takes them over.
  std::mt19937_64 rng(seed);
  auto draws = torch::empty({3, b}, torch::kInt64);
  auto d = draws.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    d[0][i] = p > 0 ? int64_t(rng() % uint64_t(2 * p + 1)) : 0;
    d[1][i] = p > 0 ? int64_t(rng() % uint64_t(2 * p + 1)) : 0;
    d[2][i] = options.flip ? int64_t(rng() >> 63) : 0;
  }
  draws = to_device_async(draws, images.device());
  const auto dev = torch::TensorOptions(images.device()).dtype(torch::kInt64);
  const auto off_y = draws[0].unsqueeze(1);
  const auto off_x = draws[1].unsqueeze(1);
  const auto flipped = draws[2].unsqueeze(1).to(torch::kBool);
  const auto cols = torch::arange(w, dev).unsqueeze(0);
  const auto rows = off_y + torch::arange(h, dev).unsqueeze(0);                   // [B, H]
  const auto src_cols = off_x + torch::where(flipped, (w - 1) - cols, cols);       // [B, W]
  namespace F = torch::nn::functional;
  const auto padded = p > 0 ? F::pad(images, F::PadFuncOptions({p, p, p, p})) : images;  // zeros
  const auto picked_rows = padded.gather(1, rows.unsqueeze(2).expand({b, h, w + 2 * p}));
  return picked_rows.gather(2, src_cols.unsqueeze(1).expand({b, h, w}));
}

}  // namespace nin::data
