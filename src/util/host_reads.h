// A process-wide count of the loop's device-to-host reads, so a test can show a step makes none.
#pragma once

#include <atomic>
#include <cstdint>

namespace nin {

// Each place of the training loop that reads a device value to the host (the meter's
// figures, the non-finite verdict) counts here. Between two progress lines the count must
// not move: tests/unit/train_static_step_test.cpp runs steps and checks that it does not.
// A copy from pageable host memory to a GPU waits for the stream too: the loop makes none
// (the loader's indices and augmentation's draws go through data/host_copy.h).
inline std::atomic<int64_t>& host_read_counter() {
  static std::atomic<int64_t> count{0};
  return count;
}
inline void count_host_read() { ++host_read_counter(); }
inline int64_t host_reads() { return host_read_counter().load(); }

}  // namespace nin
