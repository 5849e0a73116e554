// What differs between a LibTorch whose profiler has Kineto and one without: the activities
// it can record and who writes the Chrome trace. CMake links profiler_kineto.cpp or
// profiler_no_kineto.cpp (cmake/TorchKineto.cmake checks which LibTorch this is).
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/types.h>

#include "monitor/profile.h"

namespace nin::monitor {

// CPU ops always; with Kineto, a CUDA device's kernels, memcpys and memsets as well.
std::set<torch::profiler::impl::ActivityType> profiler_activities(const torch::Device& device);

// Writes the stopped profiler's Chrome trace to `path` (atomically): Kineto's own, else one
// made from `events` with `steps` ("A:B") in its otherData.
void write_chrome_trace(torch::autograd::profiler::ProfilerResult& result, const std::vector<ProfiledEvent>& events,
                        const std::filesystem::path& path, const std::string& steps);

// What this build's profiler records, for profile.md's header.
std::string profiler_kind(const torch::Device& device);

}  // namespace nin::monitor
