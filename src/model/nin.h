// Network in Network (Lin et al., 2013) as in the d2l chapter: NiN blocks, no dense layers.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

namespace nin::model {

struct NiNOptions {
  int64_t in_channels = 1;
  int64_t num_classes = 10;
  double dropout = 0.5;  // before the last block; 0 turns it off
  // Initial bias of the last conv, the one whose ReLU outputs the class scores. At init the
  // signal reaching the last block is ~0.02, so PyTorch's default bias, U(+-1/sqrt(10)),
  // alone decides which class channels start shut for every image (about half of them).
  double class_bias = 1.0;
};

// A Sequential with a concrete forward, so that it can sit inside another Sequential.
struct NiNBlockImpl : torch::nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(NiNBlock);

// conv(k, s, p) + ReLU, then two 1x1 conv + ReLU: a per-pixel MLP across channels.
NiNBlock nin_block(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                int64_t stride, int64_t padding);

// The seed's layout, registered as `net` so that parameter names (net.0.0.weight, ...)
// match the PyTorch model's state dict key for key.
struct NiNImpl : torch::nn::Module {
  explicit NiNImpl(const NiNOptions& options = {});
  torch::Tensor forward(torch::Tensor x);
  // Xavier-uniform on every conv weight, as d2l.init_cnn; biases keep PyTorch's default,
  // except the last conv's, which is options.class_bias.
  void init_weights();

  NiNOptions options;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(NiN);

struct LayerShape {
  std::string layer;            // e.g. "Sequential", "MaxPool2d"
  std::vector<int64_t> shape;   // output shape, batch dimension included
};

// Runs `input` through each top-level layer in eval mode and records its output shape.
std::vector<LayerShape> layer_summary(NiN& model, const torch::Tensor& input);
void print_summary(std::ostream& out, NiN& model, const std::vector<int64_t>& input_shape);
int64_t parameter_count(const torch::nn::Module& model);

// Smallest square input the network accepts (67 for the seed's layout): below it a
// max-pool would see a map smaller than its 3x3 window.
int64_t min_input_size();

}  // namespace nin::model
