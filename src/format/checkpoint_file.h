// The .nin checkpoint file: a fixed header (magic, version, length, XXH64, HMAC tag) before a payload.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "format/atomic_file.h"

namespace nin::format {

// Version 1 holds a torch::serialize archive (TorchScript: loading it can run code stored
// in the file); version 2, written since, holds the safetensors layout (format/safetensors.h).
constexpr uint32_t kLegacyCheckpointVersion = 1;
constexpr uint32_t kCheckpointVersion = 2;

// NIN_CHECKPOINT_KEY: when set, checkpoints are signed with HMAC-SHA256 under it, and a
// file without a valid tag is refused.
constexpr const char* kCheckpointKeyEnv = "NIN_CHECKPOINT_KEY";

struct CheckpointPayload {
  uint32_t version = kCheckpointVersion;
  uint64_t checksum = 0;  // XXH64 of the payload: the same bytes give the same value on every rank
  std::string bytes;
};

// Writes the header and `payload` to `path` atomically (format/atomic_file.h). On failure
// older checkpoints are untouched, and std::runtime_error names the file and the system's
// reason, ending "(older checkpoints are intact)".
void write_checkpoint_file(const std::filesystem::path& path, std::string_view payload,
                           Existing existing = Existing::kReplace);

// The payload of the checkpoint at `path`, after checking that it is a regular file, and
// its magic, version, length, XXH64 checksum and (with NIN_CHECKPOINT_KEY) HMAC tag. A
// missing, truncated, corrupt or unsigned file is an InputError naming the path and the defect.
CheckpointPayload read_checkpoint_file(const std::filesystem::path& path);

}  // namespace nin::format
