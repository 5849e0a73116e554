// PyTorch interoperability for training: state dicts in torch.save's format, into and out of a model.
#pragma once

#include <string>

#include <torch/nn/module.h>

#include "format/torch_save.h"

namespace nin::checkpoint {

// {name: tensor} in the model's order, and the torch.save files that hold them
// (format/torch_save.h: what Python's torch.load reads, and what torch.save writes).
using format::NamedTensors;
using format::load_state_dict;
using format::save_state_dict;

// Copies `tensors` into `model` after checking names and shapes (InputError naming `source`
// and the key; the model is unchanged on error).
void assign_state_dict(torch::nn::Module& model, const NamedTensors& tensors, const std::string& source);

}  // namespace nin::checkpoint
