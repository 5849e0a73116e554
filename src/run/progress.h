// What rank 0 prints while a run trains: the progress bar or lines, and each epoch's line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "rundir/records.h"

namespace nin::run {

// Rank 0's progress within an epoch: a redrawn bar on a terminal, throttled plain lines
// (every `every` steps) otherwise, nothing when quiet.
class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t steps, int64_t every, bool quiet, bool enabled);
  bool due(int64_t step) const;  // whether update(step) would print: skip computing its figures
  void update(int64_t step, double running_loss, double images_per_s);
  void finish();

 private:
  int64_t epoch_, epochs_, steps_, every_;
  bool tty_, quiet_, enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// A terminal that shows a redrawn bar: not under mpirun or srun, which give ranks a pty.
bool stdout_is_terminal();

std::string format_record(const rundir::EpochRecord& r, int64_t epochs);

}  // namespace nin::run
