// torch.save's file format at the state-dict level: {name: tensor} dicts that Python's torch.load reads, and back.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "format/atomic_file.h"

namespace nin::format {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes a {name: tensor} dict exactly as Python's torch.save writes one (zip archive,
// pickle protocol 2, one storage record per tensor), so that
// `model.load_state_dict(torch.load(p))` loads it into the seed's PyTorch NiN (keys
// net.0.0.weight, ...), also under torch.load(weights_only=True), the default since
// PyTorch 2.6. torch::pickle_save is not used: its type tags fail weights_only loading.
// Atomic like checkpoints (format/atomic_file.h).
// With Existing::kRefuse, an existing `path` is an error and stays as it was.
void save_state_dict(const std::filesystem::path& path, const NamedTensors& tensors,
                     Existing existing = Existing::kReplace);

// Reads a dict of tensors written by torch.save (zip format, PyTorch >= 1.6): both
// `torch.save(model.state_dict(), p)` (an OrderedDict with _metadata, which
// torch::pickle_load cannot read) and `torch.save(dict(model.state_dict()), p)`.
// A restricted unpickler (format/unpickler.h): it builds dicts, tuples and tensors and
// executes nothing. Anything else (a whole pickled module, the legacy format) is an
// InputError that says how to re-save the file.
NamedTensors load_state_dict(const std::filesystem::path& path);

}  // namespace nin::format
