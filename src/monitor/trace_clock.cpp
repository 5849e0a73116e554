// The host clock of the trace: steady_clock, read at each mark.
#include "monitor/trace_clock.h"

#include <chrono>

namespace nin::monitor {
namespace {

class HostClock final : public TraceClock {
 public:
  void drain() override {}
  void origin() override { origin_ = Clock::now(); }
  size_t mark() override {
    marks_.push_back(Clock::now());
    return marks_.size() - 1;
  }
  std::vector<double> resolve() override {
    std::vector<double> us;
    for (const auto& t : marks_) us.push_back(std::chrono::duration<double, std::micro>(t - origin_).count());
    marks_.clear();
    return us;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point origin_ = Clock::now();
  std::vector<Clock::time_point> marks_;
};

}  // namespace

std::unique_ptr<TraceClock> make_host_clock() { return std::make_unique<HostClock>(); }

}  // namespace nin::monitor
