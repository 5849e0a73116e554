// LibTorch's own profiler over a few steps (log.profile_steps): rank 0 writes profile.json
// (Chrome trace) and profile.md (the top kernels and ops by time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/record_function.h>
#include <torch/types.h>

#include "config/config.h"

namespace nin::monitor {

// One event of the profile: an op, a runtime call or a user range on a host thread, or a
// kernel, memcpy or memset on the device.
struct ProfiledEvent {
  std::string name;
  bool on_device = false;  // GPU time; else a host thread's
  uint64_t thread = 0;     // the host thread (device events: their stream)
  double start_us = 0, dur_us = 0;
};

// One name's total: how often it ran and for how long (microseconds).
struct ProfileRow {
  std::string name;
  int64_t count = 0;
  double total_us = 0;
};

// Device events by name, their time on the device; the largest first.
std::vector<ProfileRow> device_time(const std::vector<ProfiledEvent>& events);
// Host events by name, their self time: what is not inside another event of the same thread
// (an op's time less its nested ops'); the largest first.
std::vector<ProfileRow> host_self_time(const std::vector<ProfiledEvent>& events);
// A Markdown table: name, count, total ms, ms/step, % of all rows; the first `top` rows, then
// one "(N others)" row for the rest and a "(total)" row.
std::string profile_table(const std::vector<ProfileRow>& rows, int64_t steps, size_t top);

// Records steps A to B (0-based, inclusive) of the first epoch this invocation runs, on rank
// 0 only (the other ranks run unprofiled), with CPU activities, and with Kineto a CUDA
// device's kernels, memcpys, memsets and NCCL kernels too. A B past the epoch's last step
// ends the window with the epoch's steps: evaluation is never in it. The trainer holds none
// when log.profile_steps is "" or on ranks other than 0.
class Profile {
 public:
  static std::unique_ptr<Profile> from_config(const config::Config& cfg, const torch::Device& device, int rank,
                                              std::filesystem::path dir, std::function<void(const std::string&)> say);
  Profile(std::string steps, int64_t first, int64_t last, const torch::Device& device, std::filesystem::path dir,
          std::function<void(const std::string&)> say);
  ~Profile();  // a window still open (a preempted run) is stopped and not written
  Profile(const Profile&) = delete;
  Profile& operator=(const Profile&) = delete;

  void start_step(int64_t step);  // step `step` of the epoch starts (before its data)
  void end_step();                // it ended: after step B the window closes
  void end_epoch();               // the epoch's steps are over: a window still open closes

 private:
  void open();
  void close();  // stops the profiler, writes profile.json and profile.md

  const std::string steps_;  // "A:B", as configured
  const int64_t first_, last_;
  const torch::Device device_;
  const std::filesystem::path dir_;
  std::function<void(const std::string&)> say_;
  bool on_ = false, done_ = false;
  int64_t step_ = -1, recorded_ = 0;  // steps inside the window so far
  std::optional<at::RecordFunction> range_;  // "nin::step", one per recorded step
};

}  // namespace nin::monitor
