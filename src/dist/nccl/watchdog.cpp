// Watchdog thread: releases finished collectives, times out the oldest stuck one.
#include "dist/nccl/watchdog.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "util/error.h"

namespace nin::dist {

Watchdog::Watchdog(Watched& target, std::chrono::milliseconds timeout, std::chrono::milliseconds period,
                   std::chrono::milliseconds exit_after)
    : target_(target), timeout_(timeout), period_(period), exit_after_(exit_after), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  release_all();
}

void Watchdog::watch(void* token, std::string what) {
  bool was_idle = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_idle = entries_.empty();
    entries_.push_back({token, Clock::now() + timeout_, std::move(what)});
  }
  if (was_idle) wake_.notify_one();  // the thread sleeps while nothing is in flight
}

void Watchdog::check() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

bool Watchdog::failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<bool>(failure_);
}

size_t Watchdog::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void Watchdog::poll() {
  std::lock_guard<std::mutex> polling(polling_);
  try {
    sweep();
  } catch (...) {  // a failed query (a sticky CUDA error) fails the communicator too
    fail(std::current_exception());
  }
  if (failed()) release_all();  // nothing more to wait for once aborted
}

void Watchdog::sweep() {
  for (;;) {
    void* token = nullptr;
    Clock::time_point deadline;
    std::string what;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (entries_.empty() || failure_) return;
      token = entries_.front().token;  // only the poller pops, so the front stays put
      deadline = entries_.front().deadline;
    }
    if (target_.finished(token)) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        entries_.pop_front();
      }
      target_.release(token);
      continue;
    }
    if (std::exception_ptr error = target_.async_error()) {
      fail(error);
    } else if (Clock::now() > deadline) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        what = entries_.front().what;
      }
      fail(std::make_exception_ptr(CollectiveTimeout(
          what + " did not complete within " + std::to_string(timeout_.count()) +
          " ms: a peer rank died, stopped or is far behind; the watchdog aborted the communicator")));
    }
    return;  // the oldest is unfinished, so every later one is too
  }
}

void Watchdog::fail(std::exception_ptr failure) {
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    first = !failure_;
    if (first) failure_ = failure;
  }
  if (first && exit_after_.count() > 0) end_process_later(failure);  // before abort(): it may block too
  target_.abort();
}

void Watchdog::end_process_later(const std::exception_ptr& failure) const {
  std::string what = "a collective failed";
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  // Detached, and holding only copies: it must outlive this watchdog if teardown hangs.
  std::thread([what, after = exit_after_] {
    std::this_thread::sleep_for(after);
    std::fprintf(stderr, "nin-dist: error: %s; the process was still running %.1f s later (a host "
                 "wait stuck behind the device): ending it\n", what.c_str(), after.count() / 1000.0);
    std::fflush(stderr);
    std::_Exit(kExitFault);  // no destructors: they could wait on the same stuck stream
  }).detach();
}

void Watchdog::release_all() noexcept {
  std::deque<Entry> entries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries.swap(entries_);
  }
  for (const Entry& entry : entries) target_.release(entry.token);
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    if (entries_.empty()) {
      wake_.wait(lock, [this] { return stop_ || !entries_.empty(); });
      continue;
    }
    // Sleep first: a collective just queued is rarely done, and the period bounds how
    // late a timeout is noticed, not how soon the caller may go on.
    if (wake_.wait_for(lock, period_, [this] { return stop_; })) break;
    lock.unlock();
    poll();
    lock.lock();
  }
}

}  // namespace nin::dist
