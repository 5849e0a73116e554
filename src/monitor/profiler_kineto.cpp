// The profiler of a LibTorch with Kineto (pip's and conda's): CUDA activities on a GPU, and
// Kineto's own Chrome trace, flows from launches to kernels included.
#include <stdexcept>
#include <system_error>

#include "monitor/profiler_backend.h"

namespace nin::monitor {

std::set<torch::profiler::impl::ActivityType> profiler_activities(const torch::Device& device) {
  using torch::profiler::impl::ActivityType;
  if (device.is_cuda()) return {ActivityType::CPU, ActivityType::CUDA};
  return {ActivityType::CPU};
}

void write_chrome_trace(torch::autograd::profiler::ProfilerResult& result, const std::vector<ProfiledEvent>& /*events*/,
                        const std::filesystem::path& path, const std::string& /*steps*/) {
  const auto partial = path.string() + ".partial";  // renamed when whole: no reader sees half a trace
  result.save(partial);
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw std::runtime_error("cannot rename profile " + partial + " to " + path.string() + ": " + ec.message());
}

std::string profiler_kind(const torch::Device& device) {
  return device.is_cuda() ? "LibTorch's profiler with Kineto (CPU ops, CUDA kernels, memcpys, memsets)"
                          : "LibTorch's profiler with Kineto (CPU ops)";
}

}  // namespace nin::monitor
