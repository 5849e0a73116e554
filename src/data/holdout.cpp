#include "data/holdout.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/splitmix64.h"

namespace nin::data {
namespace {

// Each class's share of `count`: floor(count * n_c / total), then one more to the classes
// with the largest remainders (ties to the lower class), so the shares add up to count.
std::vector<int64_t> shares(const std::vector<std::vector<int64_t>>& by_class, int64_t count, int64_t total) {
  std::vector<int64_t> share(by_class.size());
  std::vector<std::pair<int64_t, size_t>> remainder;  // (-remainder, class): sorts largest first
  int64_t given = 0;
  for (size_t c = 0; c < by_class.size(); ++c) {
    const int64_t n = static_cast<int64_t>(by_class[c].size());
    share[c] = count * n / total;  // count <= total <= 2^31 images: no overflow
    remainder.emplace_back(-(count * n % total), c);
    given += share[c];
  }
  std::sort(remainder.begin(), remainder.end());
  for (size_t i = 0; given < count; ++i, ++given) ++share[remainder[i].second];
  return share;
}

Split take(const Split& split, std::vector<int64_t> indices) {
  std::sort(indices.begin(), indices.end());
  const auto index = torch::tensor(indices, torch::kInt64);
  return Split{split.images.index_select(0, index), split.labels.index_select(0, index)};
}

}  // namespace

HeldOut hold_out(const Split& split, int64_t count, uint64_t seed, int64_t num_classes) {
  const int64_t total = split.size();
  if (count >= total)
    throw InputError("data.val_split = " + std::to_string(count) + " leaves no training image (the training set has " +
                     std::to_string(total) + ")");
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  const auto labels = split.labels.to(torch::kCPU).contiguous();
  const int64_t* label = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < total; ++i) by_class[static_cast<size_t>(label[i])].push_back(i);

  const auto share = shares(by_class, count, total);
  std::vector<int64_t> held, kept;
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& idx = by_class[c];
    uint64_t state = splitmix64(seed ^ splitmix64(c + 1));  // one stream per class
    for (size_t i = idx.size(); i > 1; --i) {  // Fisher-Yates; the modulo's bias is below 2^-32
      state = splitmix64(state);
      std::swap(idx[i - 1], idx[state % i]);
    }
    held.insert(held.end(), idx.begin(), idx.begin() + share[c]);
    kept.insert(kept.end(), idx.begin() + share[c], idx.end());
  }
  return HeldOut{take(split, kept), take(split, held)};
}

}  // namespace nin::data
