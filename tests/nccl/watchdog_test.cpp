// The watchdog without a GPU: a fake communicator whose collectives finish when told.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "dist/nccl/watchdog.h"
#include "util/error.h"

namespace nin::dist {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kNever{3600 * 1000};  // a timeout no test reaches
constexpr milliseconds kPatience{10000};     // how long a test waits for the thread

// Collectives are numbered tokens. finish() completes one; abort() completes them all,
// as ncclCommAbort ends the kernels a stream is blocked on. Thread-safe.
class FakeComm final : public Watched {
 public:
  static void* token(uintptr_t n) { return reinterpret_cast<void*>(n); }

  bool finished(void* t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (query_error_) throw std::runtime_error("cudaEventQuery failed: an illegal memory access");
    return aborted_ || done_.count(t) > 0;
  }
  std::exception_ptr async_error() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return async_error_ ? std::make_exception_ptr(std::runtime_error("remote process exited")) : nullptr;
  }
  void abort() noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      aborted_ = true;
      ++aborts_;
    }
    changed_.notify_all();
  }
  void release(void* t) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    released_.insert(t);
  }

  void finish(void* t) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_.insert(t);
  }
  void fail_async() {
    std::lock_guard<std::mutex> lock(mutex_);
    async_error_ = true;
  }
  void fail_query() {
    std::lock_guard<std::mutex> lock(mutex_);
    query_error_ = true;
  }
  // Blocks like a host read behind a stuck collective (.item()): until `t` finishes.
  bool block_until_finished(void* t, milliseconds patience) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, patience, [&] { return aborted_ || done_.count(t) > 0; });
  }
  int aborts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return aborts_;
  }
  size_t released() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return released_.size();
  }
  bool was_released(void* t) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return released_.count(t) > 0;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::set<void*> done_;
  std::set<void*> released_;
  bool aborted_ = false;
  bool async_error_ = false;
  bool query_error_ = false;
  int aborts_ = 0;
};

std::string message_of(const Watchdog& dog) {
  try {
    dog.check();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST(Watchdog, ReleasesFinishedCollectivesInOrder) {
  FakeComm comm;
  Watchdog dog(comm, kNever, kNever);  // the thread never wakes by itself: poll() by hand
  for (uintptr_t n = 1; n <= 3; ++n) dog.watch(FakeComm::token(n), "allreduce " + std::to_string(n));
  comm.finish(FakeComm::token(2));  // done, but behind an unfinished one: stays
  dog.poll();
  EXPECT_EQ(dog.in_flight(), 3u);
  comm.finish(FakeComm::token(1));
  dog.poll();
  EXPECT_EQ(dog.in_flight(), 1u);
  EXPECT_TRUE(comm.was_released(FakeComm::token(1)));
  EXPECT_TRUE(comm.was_released(FakeComm::token(2)));
  EXPECT_FALSE(dog.failed());
  EXPECT_NO_THROW(dog.check());
  EXPECT_EQ(comm.aborts(), 0);
}

TEST(Watchdog, PastTheDeadlineBecomesCollectiveTimeoutAndAborts) {
  FakeComm comm;
  Watchdog dog(comm, milliseconds(200), kNever);
  dog.watch(FakeComm::token(1), "NCCL allreduce of 7 elements on rank 0 of 2");
  dog.poll();
  EXPECT_FALSE(dog.failed());  // within its 200 ms
  std::this_thread::sleep_for(milliseconds(250));
  dog.poll();
  ASSERT_TRUE(dog.failed());
  EXPECT_THROW(dog.check(), CollectiveTimeout);
  const std::string text = message_of(dog);
  EXPECT_NE(text.find("NCCL allreduce of 7 elements on rank 0 of 2 did not complete within 200 ms"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("the watchdog aborted the communicator"), std::string::npos) << text;
  EXPECT_EQ(comm.aborts(), 1);
  EXPECT_EQ(dog.in_flight(), 0u);  // nothing left to wait for after an abort
  EXPECT_EQ(comm.released(), 1u);
  EXPECT_THROW(dog.check(), CollectiveTimeout);  // every later call sees it too
}

TEST(Watchdog, ReportsTheCommunicatorsOwnError) {
  FakeComm comm;
  Watchdog dog(comm, kNever, kNever);
  dog.watch(FakeComm::token(1), "allreduce");
  comm.fail_async();
  dog.poll();
  EXPECT_NE(message_of(dog).find("remote process exited"), std::string::npos);
  EXPECT_EQ(comm.aborts(), 1);
}

TEST(Watchdog, AFailedQueryFailsTheCommunicator) {
  FakeComm comm;
  Watchdog dog(comm, kNever, kNever);
  dog.watch(FakeComm::token(1), "allreduce");
  comm.fail_query();
  dog.poll();
  EXPECT_NE(message_of(dog).find("illegal memory access"), std::string::npos);
  EXPECT_EQ(comm.aborts(), 1);
}

// The case the watchdog exists for: the caller is blocked on the device behind a stuck
// allreduce and calls nothing. The thread aborts; the caller resumes and is told.
TEST(Watchdog, ThreadUnblocksAHostWaitStuckBehindACollective) {
  FakeComm comm;
  Watchdog dog(comm, milliseconds(50), milliseconds(5));
  void* stuck = FakeComm::token(1);
  const auto start = std::chrono::steady_clock::now();
  dog.watch(stuck, "NCCL allreduce of 4 elements");
  ASSERT_TRUE(comm.block_until_finished(stuck, kPatience)) << "the watchdog never aborted";
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));
  EXPECT_THROW(dog.check(), CollectiveTimeout);
  EXPECT_EQ(comm.aborts(), 1);
}

// A kernel that the abort cannot end (NIN_FAULT=stall, a hung GPU): the host never returns
// to check(), so with exit_after the watchdog ends the process itself, exit code 1.
TEST(Watchdog, EndsTheProcessWhenTheHostStaysStuckAfterTheAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child starts its own threads
  EXPECT_EXIT(
      {
        FakeComm comm;
        Watchdog dog(comm, milliseconds(50), milliseconds(5), /*exit_after=*/milliseconds(100));
        dog.watch(FakeComm::token(1), "NCCL allreduce of 4 elements on rank 1");
        for (;;) std::this_thread::sleep_for(milliseconds(100));  // blocked on the device for good
      },
      ::testing::ExitedWithCode(1),
      "NCCL allreduce of 4 elements on rank 1 did not complete within 50 ms.*still running 0.1 s later");
}

TEST(Watchdog, ThreadReleasesFinishedCollectives) {
  FakeComm comm;
  Watchdog dog(comm, kNever, milliseconds(1));
  for (uintptr_t n = 1; n <= 100; ++n) {
    dog.watch(FakeComm::token(n), "allreduce");
    comm.finish(FakeComm::token(n));
  }
  const auto give_up = std::chrono::steady_clock::now() + kPatience;
  while (dog.in_flight() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(dog.in_flight(), 0u);
  EXPECT_EQ(comm.released(), 100u);
  EXPECT_FALSE(dog.failed());
}

TEST(Watchdog, DestructionReleasesWhatIsStillWatched) {
  FakeComm comm;
  {
    Watchdog dog(comm, kNever, milliseconds(1));
    for (uintptr_t n = 1; n <= 5; ++n) dog.watch(FakeComm::token(n), "allreduce");
  }
  EXPECT_EQ(comm.released(), 5u);
  EXPECT_EQ(comm.aborts(), 0);  // a clean stop is not a failure
}

}  // namespace
}  // namespace nin::dist
