#include "rundir/paths.h"

#include <cstdio>
#include <regex>

namespace nin::rundir {

std::string checkpoint_name(int64_t global_step) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt-step%010lld.nin", static_cast<long long>(global_step));
  return name;
}

std::optional<int64_t> checkpoint_step(const std::string& name) {
  static const std::regex kName(kCheckpointPattern);
  std::smatch m;
  if (!std::regex_match(name, m, kName)) return std::nullopt;
  return std::stoll(m[1]);
}

std::filesystem::path previous_dir(const std::filesystem::path& run_dir, const std::string& stamp) {
  return run_dir / ("previous-" + stamp);
}

}  // namespace nin::rundir
