// The safetensors layout: named tensors and string metadata that a reader loads without executing anything.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "format/torch_save.h"

namespace nin::format {

// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
// then the tensors' raw little-endian bytes. Python's safetensors.torch.load reads it.
using Metadata = std::map<std::string, std::string>;

struct TensorFile {
  NamedTensors tensors;  // in the header's (sorted) order
  Metadata metadata;
};

// Contiguous CPU copies of `tensors` (any device) after the header; names must be unique.
std::string encode_safetensors(const NamedTensors& tensors, const Metadata& metadata);

// Parses `bytes` after validating every header entry before anything is allocated: known
// dtype, rank <= 8, shape product * item size == the offsets' span, offsets inside the
// buffer, no two tensors overlapping. InputError naming `source` and the entry otherwise.
TensorFile decode_safetensors(std::string_view bytes, const std::string& source);

}  // namespace nin::format
