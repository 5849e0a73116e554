// Hands a fuzzer's bytes to a reader that takes a path: one scratch file per process.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace nin::fuzz {

// The path of a file holding exactly `data`; rewritten on every call, removed at exit.
inline std::string as_file(const uint8_t* data, size_t size, const char* suffix = "") {
  struct Scratch {
    std::filesystem::path path;
    ~Scratch() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  };
  static Scratch scratch{std::filesystem::temp_directory_path() /
                         ("nin-fuzz-" + std::to_string(getpid()) + suffix)};
  std::ofstream(scratch.path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return scratch.path.string();
}

}  // namespace nin::fuzz
