// Configs as `nin-dist train --config F --set K=V ...` reads them: the bytes up to the first NUL
// are the file, each later NUL-separated piece one --set; then the checks run at start-up.
#include <string>
#include <vector>

#include "config/config.h"
#include "fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const size_t file_end = std::min(bytes.find('\0'), bytes.size());
  std::vector<std::string> overrides;
  for (size_t at = file_end; at < bytes.size();) {
    const size_t next = std::min(bytes.find('\0', at + 1), bytes.size());
    overrides.push_back(bytes.substr(at + 1, next - at - 1));
    at = next;
  }
  const std::string path = nin::fuzz::as_file(data, file_end, ".toml");
  try {
    const auto config = nin::config::load_config(path, overrides);
    nin::config::validate(config, 2);
    nin::config::from_toml(nin::config::to_toml(config), "round trip");
  } catch (const nin::InputError&) {
  }
  return 0;
}
