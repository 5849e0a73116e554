// The trace's clock in a CPU-only build: the host's.
#include "monitor/trace_clock.h"

namespace nin::monitor {

std::unique_ptr<TraceClock> make_trace_clock(const torch::Device& /*device*/) { return make_host_clock(); }

}  // namespace nin::monitor
