// Writes the fuzz seeds that the build itself makes: a small checkpoint, its safetensors payload,
// a state dict as `nin-dist export` writes it, and that state dict's data.pkl. Usage: make_seeds DIR CONFIG
#include <fstream>
#include <iostream>
#include <sstream>

#include <torch/torch.h>

#include "format/checkpoint_file.h"
#include "format/safetensors.h"
#include "format/torch_save.h"
#include "format/zip.h"

namespace fs = std::filesystem;
using namespace nin::format;

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
  ZipReader zip(dir / "small.pt");
  std::ofstream(dir / "data.pkl", std::ios::binary) << zip.text("data.pkl");
  std::cout << "wrote seeds to " << dir << "\n";
  return 0;
}
