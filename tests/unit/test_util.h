// Helpers shared by the unit tests: scratch folders, the text of an InputError, and an
// environment variable set for one scope.
#pragma once

#include <cstdlib>
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

// Sets `name` to `value` until the end of the scope, then unsets it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

}  // namespace nin::test
