// All-or-nothing file writes: a reader finds the old file or the new one, never a mix.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

namespace nin::format {

// Whether the write may replace an existing file.
enum class Existing { kReplace, kRefuse };

// Writes the concatenation of `parts` to `path`: a fresh temporary file beside it (mkstemp:
// a new name, created exclusively, never through a symlink; mode 0640), fsynced, then
// renamed over `path` (kReplace) or linked to it only if `path` does not exist (kRefuse),
// then the folder is fsynced so that the new name survives a power cut. On failure the
// temporary file is removed, `path` is untouched, and std::runtime_error reads
// "cannot <step> <what> <file>: <the system's reason>" (`what`: "checkpoint", ...).
void write_atomically(const std::filesystem::path& path, std::initializer_list<std::string_view> parts,
                      const std::string& what, Existing existing = Existing::kReplace);

}  // namespace nin::format
