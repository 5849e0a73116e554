// One writer per run directory: an advisory lock that rank 0 holds for the run's lifetime.
#pragma once

#include <filesystem>

namespace nin::run {

// Takes an exclusive flock on `dir`/nin-dist.lock (created 0640, never through a symlink)
// and writes "host pid" into it. When another process holds it: InputError naming the
// directory and the holder's host and PID. Destroyed, it removes the file and releases the
// lock; a process that dies leaves the file, and the next run takes it over.
class RunLock {
 public:
  explicit RunLock(const std::filesystem::path& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace nin::run
