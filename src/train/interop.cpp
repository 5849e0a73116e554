#include "train/interop.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include <torch/serialize.h>

#include "util/error.h"

namespace nin::train {
namespace fs = std::filesystem;

void save_state_dict(const fs::path& path, const NamedTensors& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().cpu().contiguous());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, path);
}

NamedTensors load_state_dict(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": state dict not found or not readable");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw InputError(path.string() + ": not a torch.save file of tensors: " + e.what_without_backtrace());
  }
  if (!value.isGenericDict()) throw InputError(path.string() + ": expected a dict of tensors, found " + value.tagKind());
  NamedTensors out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor())
      throw InputError(path.string() + ": expected a dict of name -> tensor");
    out.emplace_back(item.key().toStringRef(), item.value().toTensor());
  }
  return out;
}

void assign_state_dict(torch::nn::Module& model, const NamedTensors& tensors, const std::string& source) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
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
    }
  }
  if (copies.size() != tensors.size())
    throw InputError(source + ": has " + std::to_string(tensors.size()) + " tensors, the model " +
                     std::to_string(copies.size()));
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) dst.copy_(src);
}

}  // namespace nin::train
