// Where the loop may make the host wait for the device, and a count of its device reads.
#pragma once

#include <atomic>
#include <cstdint>

namespace nin {

// Where the host may wait for the device. A function that does carries a `_sync` suffix
// (StaticStep::settle_sync, EpochMeter::sum_over_ranks_sync, ...), so every sync is named
// at its call. The loop calls them only at record points: every log.every steps of an
// epoch and at its last step, at a checkpoint, at preemption and at the epoch's end
// (run::AfterStep and Trainer::end_epoch); the step itself (StaticStep) makes none, and
// neither does the data: a copy from pageable host memory to a GPU waits for the stream
// too, so the loader's indices and augmentation's draws go through data/host_copy.h.
// The loop's device reads count here, so that a test shows a run of steps makes none
// (tests/unit/static_step_reference.h).
inline std::atomic<int64_t>& host_read_counter() {
  static std::atomic<int64_t> count{0};
  return count;
}
inline void count_host_read() { ++host_read_counter(); }
inline int64_t host_reads() { return host_read_counter().load(); }

}  // namespace nin
