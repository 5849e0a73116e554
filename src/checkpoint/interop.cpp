#include "checkpoint/interop.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include <torch/types.h>

#include "util/error.h"

namespace nin::checkpoint {

void assign_state_dict(torch::nn::Module& model, const NamedTensors& tensors, const std::string& source) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::vector<std::string> expected;
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (auto* dict : {&params, &buffers}) {
    for (const auto& item : *dict) {
      auto it = std::find_if(tensors.begin(), tensors.end(), [&](const auto& nt) { return nt.first == item.key(); });
      if (it == tensors.end()) throw InputError(source + ": no tensor named '" + item.key() + "'");
      if (it->second.sizes() != item.value().sizes()) {
        std::ostringstream msg;
        msg << source << ": '" << item.key() << "' has shape " << it->second.sizes() << ", the model expects "
            << item.value().sizes() << " (check model.num_classes and model.in_channels)";
        throw InputError(msg.str());
      }
      copies.emplace_back(item.value(), it->second);
      expected.push_back(item.key());
    }
  }
  for (const auto& [name, t] : tensors) {
    if (std::find(expected.begin(), expected.end(), name) == expected.end())
      throw InputError(source + ": has a tensor '" + name + "' that the model lacks (" +
                       std::to_string(tensors.size()) + " tensors, the model has " +
                       std::to_string(copies.size()) + ")");
  }
  if (copies.size() != tensors.size())
    throw InputError(source + ": has " + std::to_string(tensors.size()) + " tensors, the model " +
                     std::to_string(copies.size()) + " (a name appears twice)");
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) dst.copy_(src);
}

}  // namespace nin::checkpoint
