// Peak RSS from getrusage, and the table of GPUs' dense peak FLOP/s.
#include "monitor/device_stats.h"

#include <sys/resource.h>

#include <limits>

namespace nin::monitor {
namespace {

struct Peak {
  const char* name;  // a part of the device's name; the first match wins, so variants come first
  double fp32, tf32, bf16;  // FLOP/s, dense
};

// NVIDIA's data sheets (H200, H100, A100), SXM unless named.
constexpr Peak kPeaks[] = {
    {"H200 NVL", 60e12, 417.5e12, 835e12},  {"H200", 67e12, 494.5e12, 989.5e12},
    {"H100 NVL", 60e12, 417.5e12, 835e12},  {"H100 PCIe", 51e12, 378e12, 756e12},
    {"H100", 67e12, 494.5e12, 989.5e12},    {"A100", 19.5e12, 156e12, 312e12},
};

}  // namespace

int64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return int64_t(usage.ru_maxrss) * 1024;  // Linux counts KiB
}

double peak_flops_of(const std::string& device_name, const std::string& math) {
  for (const auto& p : kPeaks) {
    if (device_name.find(p.name) == std::string::npos) continue;
    if (math == "fp32") return p.fp32;
    if (math == "tf32") return p.tf32;
    if (math == "bf16") return p.bf16;
    break;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace nin::monitor
