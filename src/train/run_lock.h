// One writer per run directory: an advisory lock that rank 0 holds for the run's lifetime.
#pragma once

#include <filesystem>

namespace nin::train {

// Takes an exclusive flock on `dir`/nin-dist.lock (created 0640, never through a symlink)
// and writes "host pid" into it. When another process holds it: InputError naming the
// directory and the holder's host and PID. Released when destroyed or when the process dies.
class RunLock {
 public:
  explicit RunLock(const std::filesystem::path& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace nin::train
