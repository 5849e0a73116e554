// Epoch shards cut into steps and micro-batches.
#include "data/loader.h"

#include "data/host_copy.h"

#include <algorithm>
#include <stdexcept>

#include "util/splitmix64.h"

namespace nin::data {

Batch::Batch(const Split& split, torch::Tensor indices, int64_t index, int64_t micro_batch,
           const LoaderOptions& options, uint64_t seed)
    : split_(split),
      indices_(std::move(indices)),
      index_(index),
      micro_batch_(micro_batch),
      batch_(options.batch),
      augment_(options.augment),
      seed_(seed) {}

MicroBatch Batch::micro(int64_t m) const {
  const int64_t begin = m * micro_batch_, end = std::min(begin + micro_batch_, images());
  if (m < 0 || begin >= end) throw std::out_of_range("Batch::micro: no micro-batch " + std::to_string(m));
  const auto idx = indices_.slice(0, begin, end);
  MicroBatch b;
  if (augment_.active()) {  // on the small uint8 images, before the resize
    const uint64_t seed = splitmix64(seed_ ^ splitmix64(uint64_t(m) + 1));
    b.x = to_network_input(augment(split_.images.index_select(0, idx), seed, augment_), batch_);
  } else {
    b.x = make_batch(split_.images, idx, batch_);
  }
  b.y = split_.labels.index_select(0, idx);
  b.offset = begin;
  b.weight = double(end - begin) / double(images());
  b.last = end == images();
  return b;
}

Loader::Loader(Split split, const LoaderOptions& options)
    : split_(std::move(split)),
      options_(options),
      sampler_(split_.size(), options.rank, options.world, options.seed, /*shuffle=*/true, /*drop_last=*/false) {
  if (options.local_batch < 1 || options.micro_batch < 1 || options.micro_batch > options.local_batch)
    throw std::invalid_argument("Loader: need 1 <= micro_batch <= local_batch");
  steps_per_epoch_ = (sampler_.num_samples() + options.local_batch - 1) / options.local_batch;
}

void Loader::start(int64_t epoch, int64_t first_step) {
  shard_ = to_device_async(torch::tensor(sampler_.indices(epoch)), split_.images.device());
  epoch_ = epoch;
  next_step_ = first_step;
}

Batch Loader::next() {
  if (done()) throw std::out_of_range("Loader::next: the epoch has no more steps");
  const int64_t begin = next_step_ * options_.local_batch;
  const int64_t end = std::min(begin + options_.local_batch, sampler_.num_samples());
  const uint64_t seed = splitmix64(options_.seed ^ splitmix64(uint64_t(epoch_) << 32 ^ uint64_t(next_step_)) ^
                                   splitmix64(uint64_t(options_.rank) + 1));
  return Batch(split_, shard_.slice(0, begin, end), next_step_++, options_.micro_batch, options_, seed);
}

}  // namespace nin::data
