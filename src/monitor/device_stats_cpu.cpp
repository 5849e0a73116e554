// Device figures in a CPU-only build: peak RSS, and no peak FLOP/s (no MFU on a CPU).
#include <limits>

#include "monitor/device_stats.h"

namespace nin::monitor {

int64_t peak_memory_bytes(const torch::Device& /*device*/) { return peak_rss_bytes(); }

double peak_flops(const torch::Device& /*device*/, const std::string& /*precision*/) {
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace nin::monitor
