// The .nin checkpoint file: a fixed header (magic, version, length, XXH64) before a payload.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace nin::format {

// Writes the header and `payload` to `path` atomically (format/atomic_file.h). On failure
// older checkpoints are untouched, and std::runtime_error names the file and the system's
// reason, ending "(older checkpoints are intact)".
void write_checkpoint_file(const std::filesystem::path& path, std::string_view payload);

// The payload of the checkpoint at `path`, after checking its magic, version, length and
// XXH64 checksum. A missing, truncated or corrupt file is an InputError naming the path
// and the defect.
std::string read_checkpoint_file(const std::filesystem::path& path);

}  // namespace nin::format
