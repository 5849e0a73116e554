#include "model/nin.h"

#include <sstream>

#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/utils.h>

namespace nin::model {
namespace {

constexpr int64_t kPoolWindow = 3;  // every max-pool: 3x3, stride 2
constexpr int64_t kPoolStride = 2;

// (kernel, stride, padding, out channels) of the first three blocks; the last block is
// 3/1/1 with num_classes channels.
struct BlockSpec {
  int64_t out, kernel, stride, padding;
};
constexpr BlockSpec kBlocks[] = {{96, 11, 4, 0}, {256, 5, 1, 2}, {384, 3, 1, 1}};

torch::nn::MaxPool2d max_pool() {
  return torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(kPoolWindow).stride(kPoolStride));
}

// PyTorch's class name of a layer: "MaxPool2d", and "Sequential" for a NiN block.
std::string layer_name(const torch::nn::Module& m) {
  if (dynamic_cast<const torch::nn::SequentialImpl*>(&m)) return "Sequential";
  std::string name = m.name();  // e.g. "torch::nn::MaxPool2dImpl"
  if (auto pos = name.rfind("::"); pos != std::string::npos) name = name.substr(pos + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  return name;
}

}  // namespace

NiNBlock nin_block(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                int64_t stride, int64_t padding) {
  using torch::nn::Conv2d;
  using torch::nn::Conv2dOptions;
  return NiNBlock(
      Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size).stride(stride).padding(padding)),
      torch::nn::ReLU(),
      Conv2d(Conv2dOptions(out_channels, out_channels, /*kernel_size=*/1)), torch::nn::ReLU(),
      Conv2d(Conv2dOptions(out_channels, out_channels, /*kernel_size=*/1)), torch::nn::ReLU());
}

NiNImpl::NiNImpl(const NiNOptions& opts) : options(opts) {
  torch::nn::Sequential seq;
  int64_t channels = options.in_channels;
  for (const auto& b : kBlocks) {
    seq->push_back(nin_block(channels, b.out, b.kernel, b.stride, b.padding));
    seq->push_back(max_pool());
    channels = b.out;
  }
  seq->push_back(torch::nn::Dropout(options.dropout));
  seq->push_back(nin_block(channels, options.num_classes, 3, 1, 1));
  seq->push_back(torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({1, 1})));
  seq->push_back(torch::nn::Flatten());
  net = register_module("net", seq);
  init_weights();
}

torch::Tensor NiNImpl::forward(torch::Tensor x) { return net->forward(x); }

void NiNImpl::init_weights() {
  torch::NoGradGuard no_grad;
  torch::nn::Conv2dImpl* last = nullptr;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::xavier_uniform_(conv->weight);
      last = conv;
    }
  }
  torch::nn::init::constant_(last->bias, options.class_bias);
}

std::vector<LayerShape> layer_summary(NiN& model, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<LayerShape> shapes;
  torch::Tensor x = input;
  for (auto& layer : *model->net) {
    x = layer.forward(x);
    shapes.push_back({layer_name(*layer.ptr()), x.sizes().vec()});
  }
  model->train(was_training);
  return shapes;
}

void print_summary(std::ostream& out, NiN& model, const std::vector<int64_t>& input_shape) {
  for (const auto& s : layer_summary(model, torch::zeros(input_shape))) {
    std::ostringstream shape;
    for (size_t i = 0; i < s.shape.size(); ++i) shape << (i ? ", " : "") << s.shape[i];
    out << s.layer << " output shape:\t torch.Size([" << shape.str() << "])\n";
  }
  std::string count = std::to_string(parameter_count(*model));
  for (int i = static_cast<int>(count.size()) - 3; i > 0; i -= 3) count.insert(i, ",");
  out << "Parameters: " << count << "\n";
}

int64_t parameter_count(const torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

int64_t min_input_size() {
  auto fits = [](int64_t size) {
    for (const auto& b : kBlocks) {
      size = (size + 2 * b.padding - b.kernel) / b.stride + 1;
      if (size < kPoolWindow) return false;
      size = (size - kPoolWindow) / kPoolStride + 1;
    }
    return size >= 1;
  };
  int64_t size = kBlocks[0].kernel;
  while (!fits(size)) ++size;
  return size;
}

}  // namespace nin::model
