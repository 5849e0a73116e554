// Optimizer state as plain named tensors, and back: what a checkpoint stores of SGD, Adam and AdamW.
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <utility>

#include <torch/optim/optimizer.h>

#include "format/torch_save.h"

namespace nin::checkpoint {

// "optim/<i>/<field>" for parameter i (counted over the param groups in order):
// momentum_buffer (SGD); step (an int64 scalar), exp_avg, exp_avg_sq, max_exp_avg_sq (Adam,
// AdamW). Parameters without state (no step taken yet) have no entry.
constexpr const char* kOptimPrefix = "optim/";

// torch::optim's state map, and its key for a parameter: the TensorImpl address, printed
// in 1.13 (as c10::guts::to_string prints it), the pointer itself in 2.x.
using OptimStateMap = std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
using OptimStateKey = typename OptimStateMap::key_type;
OptimStateKey state_key(const torch::Tensor& p);

format::NamedTensors optimizer_state(const torch::optim::Optimizer& optimizer);

// Replaces `optimizer`'s state by `state` (the entries under kOptimPrefix) after checking
// every field's parameter index, name, dtype and shape: InputError naming `source` and the
// entry otherwise, with the optimizer unchanged.
void load_optimizer_state(torch::optim::Optimizer& optimizer, const std::map<std::string, torch::Tensor>& state,
                          const std::string& source);

}  // namespace nin::checkpoint
