// Helpers shared by the unit tests: scratch folders and the text of an InputError.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "util/error.h"

namespace nin::test {

// An empty folder under the system's temp dir, made anew for each call.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("nin-test-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The message of the InputError that `f` throws, or "" when it throws none.
inline std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace nin::test
