// A thread that turns a collective stuck past its deadline into CollectiveTimeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

namespace nin::dist {

// The communicator a Watchdog guards. The watchdog calls these from its own thread (or
// from poll()), one call at a time and never while holding its own lock. `token` is what
// the communicator passed to watch(): the NCCL backend passes a cudaEvent_t recorded on
// its stream right after the collective.
class Watched {
 public:
  virtual ~Watched() = default;
  virtual bool finished(void* token) = 0;          // the collective completed on the device
  virtual std::exception_ptr async_error() = 0;    // a failure the library reports, else null
  virtual void abort() noexcept = 0;               // ends pending collectives: streams resume
  virtual void release(void* token) noexcept = 0;  // the watchdog no longer needs `token`
};

// Collectives complete in the order they were queued (one stream), so only the oldest
// unfinished one is held against its deadline (queue time + timeout). On a timeout or a
// reported error the watchdog aborts the communicator, as PyTorch's ProcessGroupNCCL does:
// a host thread blocked on the device (a .item() after the allreduce) then resumes, and
// the next check() throws. The caller's own steady path never waits on the device for it.
class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts the thread, which polls every `period` while a collective is in flight. With
  // `exit_after` > 0, a failure also ends the process (message on stderr, exit code 1) that
  // long after the abort, unless it ended by itself: a host stuck behind a kernel that the
  // abort cannot end (a hung GPU) never reaches the next check(). PyTorch's watchdog does
  // the same (TORCH_NCCL_ASYNC_ERROR_HANDLING).
  Watchdog(Watched& target, std::chrono::milliseconds timeout, std::chrono::milliseconds period,
           std::chrono::milliseconds exit_after = std::chrono::milliseconds(0));
  ~Watchdog();  // stops the thread, then releases every token still watched
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // A collective was queued just now; `what` names it (op, size, rank) in the message.
  void watch(void* token, std::string what);
  // Rethrows the failure found so far (CollectiveTimeout or the target's error); cheap.
  void check() const;
  bool failed() const;
  size_t in_flight() const;  // tokens watched now
  // One round: release finished collectives, then hold the oldest unfinished one against
  // the target's error and its deadline. The thread runs the same; tests call it directly.
  void poll();

 private:
  struct Entry {
    void* token;
    Clock::time_point deadline;
    std::string what;
  };

  void run();
  void sweep();                          // poll()'s body; throws what a target call threw
  void fail(std::exception_ptr failure);  // keeps the first failure, aborts the target
  void release_all() noexcept;
  void end_process_later(const std::exception_ptr& failure) const;  // see exit_after

  Watched& target_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds period_;
  const std::chrono::milliseconds exit_after_;
  mutable std::mutex mutex_;  // guards entries_, failure_, stop_; never held calling target_
  std::condition_variable wake_;
  std::deque<Entry> entries_;  // oldest first
  std::exception_ptr failure_;
  bool stop_ = false;
  std::mutex polling_;  // one poll() at a time, so only the poller removes entries
  std::thread thread_;  // last: starts once every other member is ready
};

}  // namespace nin::dist
