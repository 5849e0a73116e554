// The profiler of a LibTorch built without Kineto (Debian's 1.13): CPU ops from the
// profiler's own collection, and a Chrome trace made here from them (saving one needs Kineto).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "format/atomic_file.h"
#include "monitor/profiler_backend.h"

namespace nin::monitor {

std::set<torch::profiler::impl::ActivityType> profiler_activities(const torch::Device& /*device*/) {
  return {torch::profiler::impl::ActivityType::CPU};
}

void write_chrome_trace(torch::autograd::profiler::ProfilerResult& /*result*/, const std::vector<ProfiledEvent>& events,
                        const std::filesystem::path& path, const std::string& steps) {
  double origin = events.empty() ? 0 : events.front().start_us;
  for (const auto& e : events) origin = std::min(origin, e.start_us);
  nlohmann::json trace = nlohmann::json::array();
  for (const auto& e : events)  // ts and dur in microseconds from the first event
    trace.push_back({{"name", e.name}, {"cat", "cpu_op"}, {"ph", "X"}, {"ts", e.start_us - origin},
                     {"dur", e.dur_us}, {"pid", 0}, {"tid", e.thread}});
  const nlohmann::json doc = {{"traceEvents", std::move(trace)},
                              {"displayTimeUnit", "ms"},
                              {"otherData", {{"profile_steps", steps}, {"profiler", "LibTorch without Kineto"}}}};
  format::write_atomically(path, {doc.dump(1)}, "profile");
}

std::string profiler_kind(const torch::Device& device) {
  return std::string("LibTorch's profiler without Kineto (CPU ops only") +
         (device.is_cuda() ? "; no kernels: this LibTorch has no Kineto)" : ")");
}

}  // namespace nin::monitor
