// Writes the fuzz seeds that the build itself makes: small checkpoints as training writes them
// (with Adam's and SGD's state) and their payloads, a state dict as `nin-dist export` writes it,
// and that state dict's data.pkl. Usage: make_seeds DIR CONFIG
#include <fstream>
#include <iostream>
#include <sstream>

#include <torch/torch.h>

#include "checkpoint/checkpoint.h"
#include "format/checkpoint_file.h"
#include "format/safetensors.h"
#include "format/torch_save.h"
#include "format/zip.h"

namespace fs = std::filesystem;
using namespace nin::format;

// A checkpoint of a small convolution and batch norm (parameters and buffers, as a NiN block
// has) after one step of `optimizer`, written by the trainer's own writer; and its payload.
void write_trained(const fs::path& dir, const std::string& name, const std::string& config) {
  torch::manual_seed(0);
  torch::nn::Sequential model(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, /*kernel_size=*/3)),
                              torch::nn::BatchNorm2d(2));
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (name == "sgd")
    optimizer = std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  else
    optimizer = std::make_unique<torch::optim::AdamW>(model->parameters());
  model->forward(torch::randn({2, 1, 5, 5})).sum().backward();
  optimizer->step();
  const fs::path path = dir / ("trained-" + name + ".nin");
  nin::checkpoint::write_checkpoint(path, *model, *optimizer, name, {1, 2, 9, 1.5, 3, 4}, config, /*world_size=*/2);
  std::ofstream(dir / ("trained-" + name + ".safetensors"), std::ios::binary) << read_checkpoint_file(path).bytes;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_seeds DIR CONFIG\n";
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  std::ostringstream config;
  config << std::ifstream(argv[2]).rdbuf();
  torch::manual_seed(0);
  // Small tensors named and typed as a NiN checkpoint's (a real one is megabytes: too big a seed).
  const NamedTensors tensors = {{"net.0.0.weight", torch::randn({2, 1, 3, 3})},
                                {"net.0.0.bias", torch::randn({2})},
                                {"step", torch::tensor({int64_t{7}})},
                                {"mask", torch::tensor({1, 0, 1}, torch::kUInt8)}};
  const std::string payload = encode_safetensors(
      tensors, {{"format", "nin-dist checkpoint"}, {"optimizer", "sgd"}, {"world_size", "2"}, {"config", config.str()}});
  std::ofstream(dir / "payload.safetensors", std::ios::binary) << payload;
  write_checkpoint_file(dir / "small.nin", payload);
  save_state_dict(dir / "small.pt", tensors);
  write_trained(dir, "sgd", config.str());
  write_trained(dir, "adamw", config.str());
  ZipReader zip(dir / "small.pt");
  std::ofstream(dir / "data.pkl", std::ios::binary) << zip.text("data.pkl");
  std::cout << "wrote seeds to " << dir << "\n";
  return 0;
}
