// Reading an input file whole, refusing what is not a regular file or is larger than a cap.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace nin::format {

// The bytes of the regular file `path` (opened without blocking: a FIFO or device is an
// InputError naming it), at most `max_bytes`; `what` names the file's role in messages.
std::string read_regular_file(const std::filesystem::path& path, const std::string& what, uint64_t max_bytes);

}  // namespace nin::format
