// Walks the model's layers with one image, summing each convolution's multiply-adds.
#include "model/flops.h"

#include <torch/nn/modules/conv.h>
#include <torch/utils.h>

namespace nin::model {
namespace {

// Runs `x` through `seq`, descending into nested Sequentials (the NiN blocks); adds
// 2 x MACs of every Conv2d to `flops`: each output element is a dot product of
// (in_channels / groups) x kh x kw weights, which is the weight's size over out_channels.
torch::Tensor walk(torch::nn::SequentialImpl& seq, torch::Tensor x, double& flops) {
  for (auto& layer : seq) {
    if (auto* inner = dynamic_cast<torch::nn::SequentialImpl*>(layer.ptr().get())) {
      x = walk(*inner, x, flops);
      continue;
    }
    x = layer.forward(x);
    if (auto* conv = layer.ptr()->as<torch::nn::Conv2d>()) {
      const auto& w = conv->weight;
      flops += 2.0 * double(x.numel() / x.size(0)) * double(w.numel() / w.size(0));
    }
  }
  return x;
}

}  // namespace

double forward_flops_per_image(NiN& model, int64_t channels, int64_t size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->parameters().front().device();
  double flops = 0;
  walk(*model->net, torch::zeros({1, channels, size, size}, torch::TensorOptions(device)), flops);
  model->train(was_training);
  return flops;
}

double flops_per_image(NiN& model, int64_t channels, int64_t size) {
  return 3.0 * forward_flops_per_image(model, channels, size);
}

}  // namespace nin::model
