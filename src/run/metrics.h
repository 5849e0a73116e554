// What a run reports: its records (rundir/records.h, named here as the run's), progress.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "rundir/records.h"

namespace nin::run {

// The records and their files are rundir's: one schema for the trainer and the report.
using rundir::EpochRecord;
using rundir::GradNorms;
using rundir::kNotEvaluated;
using rundir::StepRecord;
using rundir::append_metrics;
using rundir::append_step;
using rundir::read_metrics;
using rundir::read_steps;
using rundir::trim_metrics;
using rundir::trim_steps;

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

std::string format_record(const EpochRecord& r, int64_t epochs);

}  // namespace nin::run
