// A timeline of a few steps on every rank (log.trace_steps), written by rank 0 as trace.json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "config/config.h"
#include "dist/communicator.h"
#include "dist/reducer.h"
#include "monitor/trace_clock.h"

namespace nin::monitor {

// What a span times. The compute lane (tid 0) holds all but kAllreduce, which is the
// communication lane (tid 1), one span a bucket.
enum class Phase {
  kData, kForward, kBackward, kFinalizeWait, kOptimizer, kCheckpoint, kEvaluate, kEpochEnd, kAllreduce
};
const char* phase_name(Phase phase);  // "data", "forward", ..., "allreduce"

// Records steps A to B (0-based, inclusive) of the first epoch this invocation runs, then
// gathers every rank's spans and rank 0 writes one Chrome trace event file: a track (pid)
// per rank, tid 0 compute and tid 1 communication, ts and dur in microseconds from each
// rank's time 0, taken right after a barrier at the window's first step. When B lies past
// the epoch's last step, the window runs to the epoch's end: evaluation and the epoch's
// checkpoint included. The trainer holds none when log.trace_steps is "": nothing is read
// or allocated then.
class Trace final : public dist::BucketObserver {
 public:
  // nullptr when log.trace_steps is "".
  static std::unique_ptr<Trace> from_config(const config::Config& cfg, const torch::Device& device,
                                            dist::Communicator& control, int rank, std::filesystem::path dir,
                                            std::function<void(const std::string&)> say);

  void start_step(int64_t step);  // step `step` of the epoch starts (before its data)
  void end_step();                // it ended: after step B the window closes
  void end_epoch();               // the first epoch ended: the window closes if still open
  bool on() const { return on_; }

  size_t mark() { return clock_->mark(); }
  void add(Phase phase, size_t begin, size_t end);  // a compute-lane span of the current step
  void launched(size_t bucket, int64_t bytes) override;
  void completed(size_t bucket) override;

  Trace(std::string steps, int64_t first, int64_t last, std::unique_ptr<TraceClock> clock,
        dist::Communicator& control, int rank, std::filesystem::path dir, std::function<void(const std::string&)> say);

 private:
  struct Record {
    Phase phase;
    int64_t step;
    int64_t bucket;  // -1 on the compute lane
    int64_t bytes;
    size_t begin, end;  // marks
  };
  struct Pending {
    bool open = false;
    size_t begin = 0;
    int64_t bytes = 0, step = 0;
  };
  void open();
  void close();  // gathers every rank's spans; rank 0 writes trace.json

  const std::string steps_;  // "A:B", as configured
  const int64_t first_, last_;
  std::unique_ptr<TraceClock> clock_;
  dist::Communicator& control_;
  const int rank_;
  const std::filesystem::path dir_;
  std::function<void(const std::string&)> say_;
  bool on_ = false;    // inside the window
  bool done_ = false;  // the first epoch is over: no window opens again
  int64_t step_ = -1;
  std::vector<Record> records_;
  std::vector<Pending> pending_;  // per bucket: launched, not seen complete yet
};

// A span of the compute lane, from construction to end() (or destruction). With no trace,
// or outside its window, it reads no clock: one branch.
class Span {
 public:
  Span(Trace* trace, Phase phase) : trace_(trace && trace->on() ? trace : nullptr), phase_(phase) {
    if (trace_) begin_ = trace_->mark();
  }
  ~Span() { end(); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  void end() {
    if (trace_) trace_->add(phase_, begin_, trace_->mark());
    trace_ = nullptr;
  }

 private:
  Trace* trace_;
  Phase phase_;
  size_t begin_ = 0;
};

}  // namespace nin::monitor
