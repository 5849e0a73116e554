#include "app/std_binding.h"

#include <dlfcn.h>

#include <cstdint>
#include <filesystem>

namespace nin::app {
namespace {

namespace fs = std::filesystem;

struct Owner {
  std::string file;        // the shared object's path as the loader opened it
  const void* base = nullptr;  // its load address
};

Owner owner_of(const void* addr) {
  Dl_info info{};
  if (dladdr(addr, &info) == 0) return {};
  return {info.dli_fname != nullptr ? info.dli_fname : "", info.dli_fbase};
}

int in_executable = 0;  // an object of the executable itself, to find its load address

}  // namespace

std::string std_filesystem_binding_problem() {
  // The functions the crash was seen in. Their addresses come from the same relocation as
  // the calls (the GOT), so they are where a call would jump.
  std::uintmax_t (*remove_all_fn)(const fs::path&) = &fs::remove_all;
  bool (*create_directories_fn)(const fs::path&) = &fs::create_directories;
  const void* functions[] = {reinterpret_cast<const void*>(remove_all_fn),
                             reinterpret_cast<const void*>(create_directories_fn)};
  const void* executable = owner_of(&in_executable).base;
  for (const void* fn : functions) {
    const Owner owner = owner_of(fn);
    if (owner.base == executable || owner.file.find("libstdc++") != std::string::npos) continue;
    return "std::filesystem resolves to " + (owner.file.empty() ? std::string("an unknown object") : owner.file) +
           ", not libstdc++: that library exports its own copies of std::filesystem (pip's LibTorch does, "
           "pytorch/pytorch#133437), and calling them crashes. Rebuild nin-dist with this project's CMake, "
           "which links the shared libstdc++.so.6 first (pass -DNIN_LIBSTDCXX=/path/to/libstdc++.so.6 if "
           "configure finds a wrong one), or run with LD_PRELOAD=/path/to/libstdc++.so.6.";
  }
  return "";
}

}  // namespace nin::app
