// Sharded evaluation with exact cross-rank sums.
#include "infer/evaluate.h"

#include <torch/nn/functional/loss.h>

#include "data/sampler.h"
#include "dist/factory.h"
#include "infer/model_io.h"

namespace nin::infer {
namespace F = torch::nn::functional;

EvalResult evaluate(model::NiN& model, const data::Split& split, const data::BatchOptions& batch,
                    dist::Communicator& control, int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const data::DistributedSampler sampler(split.size(), control.rank(), control.size(), 0, /*shuffle=*/false,
                                         /*drop_last=*/false);
  auto shard = sampler.indices(0);
  int64_t valid = 0;  // padding sits at the end of a shard
  while (valid < sampler.num_samples() && !sampler.is_padding(valid)) ++valid;
  const auto index = torch::tensor(std::vector<int64_t>(shard.begin(), shard.begin() + valid)).to(device);
  const int64_t classes = model->options.num_classes;
  auto loss_sum = torch::zeros({}, torch::TensorOptions(device).dtype(torch::kDouble));
  auto confusion = torch::zeros({classes * classes}, torch::TensorOptions(device).dtype(torch::kInt64));
  for (int64_t begin = 0; begin < valid; begin += batch_size) {
    const auto idx = index.slice(0, begin, std::min(begin + batch_size, valid));
    const auto logits = model->forward(data::make_batch(split.images, idx, batch)).to(torch::kFloat);
    const auto labels = split.labels.index_select(0, idx);
    loss_sum += F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)).to(torch::kDouble);
    confusion.index_add_(0, labels * classes + logits.argmax(1), torch::ones_like(labels));
  }
  auto sums = torch::cat({loss_sum.reshape({1}), confusion.to(torch::kDouble)}).cpu();
  control.allreduce(sums, dist::ReduceOp::kSum);  // counts stay exact in double up to 2^53
  model->train(was_training);

  EvalResult r;
  r.confusion = sums.slice(0, 1).to(torch::kInt64).reshape({classes, classes});
  r.count = r.confusion.sum().item<int64_t>();
  r.loss = sums[0].item<double>() / std::max<int64_t>(r.count, 1);
  r.accuracy = double(r.confusion.diagonal().sum().item<int64_t>()) / std::max<int64_t>(r.count, 1);
  return r;
}

std::vector<double> EvalResult::class_accuracy() const {
  const auto rows = confusion.sum(1).to(torch::kDouble).clamp_min(1);
  const auto acc = (confusion.diagonal().to(torch::kDouble) / rows).contiguous();
  return std::vector<double>(acc.data_ptr<double>(), acc.data_ptr<double>() + acc.numel());
}

EvalResult evaluate_checkpoint(LoadedModel& loaded, const std::string& data_dir, int64_t batch_size,
                               const dist::Process& process) {
  const config::Config& c = loaded.config;
  const auto test =
      data::load_split(data_dir.empty() ? c.data_dir : data_dir, /*train=*/false, c.num_classes, c.test_limit);
  auto control = dist::make_communicator(process, torch::kCPU, config::collective_timeout(c));
  return evaluate(loaded.model, test, batch_options(c), *control, batch_size, torch::kCPU);
}

}  // namespace nin::infer
