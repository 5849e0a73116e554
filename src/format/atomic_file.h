// All-or-nothing file writes: a reader finds the old file or the new one, never a mix.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

namespace nin::format {

// Replaces `path` by the concatenation of `parts`: writes `path`.tmp beside it, fsyncs it,
// renames it over `path`, then fsyncs the folder so that the rename survives a power cut.
// On failure the temporary file is removed, `path` is untouched, and std::runtime_error
// reads "cannot <step> <what> <file>: <the system's reason>" (`what`: "checkpoint", ...).
void write_atomically(const std::filesystem::path& path, std::initializer_list<std::string_view> parts,
                      const std::string& what);

}  // namespace nin::format
