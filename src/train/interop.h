// PyTorch interoperability: state dicts that Python's torch.load reads, and back.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace nin::train {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes a {name: tensor} dict in torch.save's format; `model.load_state_dict(torch.load(p))`
// loads it into the seed's PyTorch NiN (keys net.0.0.weight, ...). Atomic like checkpoints.
void save_state_dict(const std::filesystem::path& path, const NamedTensors& tensors);
// Reads a dict of tensors saved by torch.save (e.g. `torch.save(dict(model.state_dict()), p)`).
NamedTensors load_state_dict(const std::filesystem::path& path);
// Copies `tensors` into `model` after checking names and shapes (InputError naming `source`).
void assign_state_dict(torch::nn::Module& model, const NamedTensors& tensors, const std::string& source);

}  // namespace nin::train
