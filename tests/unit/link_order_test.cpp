// Which library std::filesystem resolves to in this executable: libstdc++, not LibTorch.
//
// pip's libtorch_cpu.so exports copies of libstdc++'s std::filesystem symbols
// (pytorch/pytorch#133437). An executable that lists libtorch before libstdc++ in NEEDED
// binds std::filesystem::remove_all to that copy and jumps to address 0; cmake/LinkOrder.cmake
// puts libstdc++ first. SearchesLibstdcxxBeforeLibTorch checks that order in this process,
// with any LibTorch; RemoveAllResolvesToLibstdcxx checks its consequence, which only a pip
// LibTorch (the one with the copies) can break.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

// std::filesystem::remove_all(const path&) as mangled for the string ABI this file uses.
#if _GLIBCXX_USE_CXX11_ABI
constexpr const char* kRemoveAll = "_ZNSt10filesystem10remove_allERKNS_7__cxx114pathE";
#else
constexpr const char* kRemoveAll = "_ZNSt10filesystem10remove_allERKNS_4pathE";
#endif
// The version the executable's reference asks for. An unversioned definition (LibTorch's
// copy) also satisfies it, so the first library in lookup order that defines it wins.
constexpr const char* kRemoveAllVersion = "GLIBCXX_3.4.26";

// File name of the shared object that holds `addr`, or "" when none does.
std::string object_of(const void* addr) {
  Dl_info info{};
  if (addr == nullptr || dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

// Position of the first loaded object whose file name contains `name`, in link-map order:
// the order RTLD_DEFAULT searches (the executable's NEEDED list first, in order); -1 if none.
int link_map_position(const char* name) {
  struct Search {
    const char* name;
    int index = 0, found = -1;
  } search{name};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto& s = *static_cast<Search*>(data);
        if (s.found < 0 && info->dlpi_name != nullptr && std::strstr(info->dlpi_name, s.name) != nullptr)
          s.found = s.index;
        ++s.index;
        return 0;
      },
      &search);
  return search.found;
}

}  // namespace

TEST(LinkOrder, SearchesLibstdcxxBeforeLibTorch) {
  // Without cmake/LinkOrder.cmake g++ appends -lstdc++ after libtorch and libc10: this fails.
  const int stdcxx = link_map_position("libstdc++"), torch = link_map_position("libtorch"),
            c10 = link_map_position("libc10");
  ASSERT_GE(stdcxx, 0);
  ASSERT_GE(torch, 0);
  ASSERT_GE(c10, 0);
  EXPECT_LT(stdcxx, torch);
  EXPECT_LT(stdcxx, c10);
}

TEST(LinkOrder, RemoveAllResolvesToLibstdcxx) {
  // RTLD_DEFAULT searches the global scope in the order the executable's own references
  // are bound: the executable, then its NEEDED libraries in order.
  const void* versioned = dlvsym(RTLD_DEFAULT, kRemoveAll, kRemoveAllVersion);
  const void* plain = dlsym(RTLD_DEFAULT, kRemoveAll);
  ASSERT_NE(versioned, nullptr) << kRemoveAll << "@" << kRemoveAllVersion << " not found: " << dlerror();
  EXPECT_NE(object_of(versioned).find("libstdc++"), std::string::npos)
      << kRemoveAll << "@" << kRemoveAllVersion << " comes from " << object_of(versioned);
  EXPECT_NE(object_of(plain).find("libstdc++"), std::string::npos)
      << kRemoveAll << " comes from " << object_of(plain);
}

TEST(LinkOrder, RemoveAllRemovesATree) {
  // The call that jumped to address 0 when it bound to LibTorch's copy.
  const fs::path dir = nin::test::fresh_dir("link-order");
  fs::create_directories(dir / "a" / "b");
  std::ofstream(dir / "a" / "b" / "file") << "x";
  EXPECT_EQ(fs::remove_all(dir), std::uintmax_t{4});  // dir, a, b, file
  EXPECT_FALSE(fs::exists(dir));
}
