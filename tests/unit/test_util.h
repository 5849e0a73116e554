// Helpers shared by the unit tests: scratch folders, the text of an InputError, and an
// environment variable set for one scope.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "util/error.h"

namespace nin::test {

// This process's scratch folder (mkdtemp under the system's temp dir), removed with all it
// holds when the process ends: ctest runs each test in a process of its own.
inline const std::filesystem::path& scratch_root() {
  struct Root {
    std::filesystem::path path;
    Root() {
      std::string name = (std::filesystem::temp_directory_path() / "nin-unit-XXXXXX").string();
      if (!::mkdtemp(name.data())) throw std::runtime_error("mkdtemp " + name + " failed");
      path = name;
    }
    ~Root() {
      std::error_code ec;  // a destructor does not throw: what cannot go, stays
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Root root;
  return root.path;
}

// An empty folder under scratch_root(), made anew for each call.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = scratch_root() / name;
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
