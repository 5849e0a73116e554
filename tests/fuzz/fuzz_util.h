// Hands a fuzzer's bytes to a reader that takes a path: scratch files, one per process and name.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace nin::fuzz {

// A per-process file name, removed at exit (keep it in a static). In a tmpfs where there is
// one: the checkpoint writer fsyncs every file it writes.
struct Scratch {
  explicit Scratch(const char* suffix) {
    std::error_code ec;
    const bool shm = std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0;
    path = (shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path()) /
           ("nin-fuzz-" + std::to_string(getpid()) + suffix);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::filesystem::path path;
};

// The path of a file holding exactly `data`; rewritten on every call.
inline std::string as_file(const uint8_t* data, size_t size, const char* suffix = "") {
  static const Scratch scratch(suffix);
  std::ofstream(scratch.path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return scratch.path.string();
}

}  // namespace nin::fuzz
