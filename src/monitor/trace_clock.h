// The trace's clock: host time on the CPU, CUDA events on a GPU (one backend per file).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <torch/types.h>

namespace nin::monitor {

// Marks points of the step and, once the window closes, says when each happened. A CPU
// mark reads the host clock; a CUDA mark records an event on the current stream, so the
// time is when the device got there, not when the host queued the work.
class TraceClock {
 public:
  virtual ~TraceClock() = default;
  virtual void drain() = 0;   // waits for the device's queued work (outside the steps)
  virtual void origin() = 0;  // time 0: right after the window's barrier
  virtual size_t mark() = 0;  // now, on the current stream; an index for resolve()
  // Microseconds from the origin of every mark, in mark order; forgets the marks. On a GPU
  // it waits for the last event: a host sync, once a window.
  virtual std::vector<double> resolve() = 0;
};

// steady_clock on the host.
std::unique_ptr<TraceClock> make_host_clock();
// CUDA events for a CUDA device in a CUDA build (trace_clock_cuda.cpp); the host clock
// otherwise (trace_clock_cpu.cpp).
std::unique_ptr<TraceClock> make_trace_clock(const torch::Device& device);

}  // namespace nin::monitor
