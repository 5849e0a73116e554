// Makes and removes a tree with the std::filesystem calls that crashed nin-dist.
#include <cstdio>
#include <filesystem>
#include <fstream>

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const fs::path dir = argc > 1 ? argv[1] : "fs-probe";
  fs::create_directories(dir / "a" / "b");
  std::ofstream(dir / "a" / "b" / "file") << "x";
  const auto removed = fs::remove_all(dir);
  std::printf("removed %ju\n", static_cast<std::uintmax_t>(removed));  // dir, a, b, file: 4
  return removed == 4 && !fs::exists(dir) ? 0 : 1;
}
