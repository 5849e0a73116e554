// Reader for IDX files (raw or gzip-compressed), the format FashionMNIST ships in.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

namespace nin::data {

// Reads an IDX file of unsigned bytes (dtype 0x08) with `expected_dims` dimensions into
// a uint8 tensor of that shape. Accepts raw and .gz files (detected by content). Throws
// InputError naming the file and the defect: missing or empty file, bad magic, wrong
// dtype or rank, truncated data, trailing bytes, a corrupt gzip stream.
torch::Tensor read_idx_u8(const std::string& path, int64_t expected_dims);

}  // namespace nin::data
