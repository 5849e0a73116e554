// NCCL on raw device pointers and CUDA streams, with a watchdog; needs the toolkit, not LibTorch.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include "dist/nccl/watchdog.h"
#include "dist/reduce_op.h"

namespace nin::dist {

// kAvg is NCCL's own ncclAvg: sum then divide on the device, in one pass.
ncclRedOp_t to_nccl(ReduceOp op);

class NcclComm;

// One collective in flight on the communicator's stream. Must not outlive its NcclComm.
class NcclWork {
 public:
  NcclWork(NcclWork&& other) noexcept;
  NcclWork& operator=(NcclWork&&) = delete;
  NcclWork(const NcclWork&) = delete;
  NcclWork& operator=(const NcclWork&) = delete;
  ~NcclWork();

  // True once the collective finished on the device; throws if the communicator failed.
  bool test();
  // Orders `consumer` after the collective; no host sync. A hung peer is caught by the
  // communicator's watchdog thread instead, and reported by the next call.
  void wait(cudaStream_t consumer);
  // Host wait: throws CollectiveTimeout (after aborting the communicator) when the
  // timeout passes, NcclError when NCCL reports a failure.
  void synchronize();

 private:
  friend class NcclComm;
  NcclWork(NcclComm* comm, cudaEvent_t done, const char* op, size_t count);

  NcclComm* comm_;
  cudaEvent_t done_;
  const char* op_;  // "allreduce", "broadcast", "allgather": for messages
  size_t count_;    // elements
  bool finished_ = false;
};

// The raw NCCL communicator over an MPI communicator, one rank per GPU (the Communicator
// backend for CUDA tensors, NcclBackend, wraps it). Collectives run on the communicator's
// own stream, ordered after the caller's stream by events, so they overlap the caller's
// compute. A watchdog thread holds each collective against `timeout`. Non-copyable;
// destroy every NcclWork first.
class NcclComm final : private Watched {
 public:
  // Checks the device before any collective MPI call, so a node without a GPU fails with
  // a clear message; then all ranks agree (MPI_Allreduce of a flag), so one bad rank
  // stops every rank instead of leaving them waiting. Then rank 0 creates the NCCL id,
  // MPI_Bcast shares it, and the non-blocking init is polled until done or timed out.
  NcclComm(MPI_Comm comm, int device, std::chrono::milliseconds timeout);
  ~NcclComm() override;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // In place over `count` elements of `type` at `data` (device memory), after all work
  // already queued on `compute_stream`.
  NcclWork allreduce(void* data, size_t count, ncclDataType_t type, ReduceOp op, cudaStream_t compute_stream);
  NcclWork broadcast(void* data, size_t count, ncclDataType_t type, int root, cudaStream_t compute_stream);
  // Rank r's `count` elements at `send` land at recv + r * count on every rank; `send` may be
  // that very spot (in place). Equal counts on every rank, as ncclAllGather needs.
  NcclWork allgather(const void* send, void* recv, size_t count, ncclDataType_t type, cudaStream_t compute_stream);
  // Host wait, with the timeout, for everything queued on the communicator's stream.
  void synchronize();
  // Throws what the watchdog or NCCL reported (CollectiveTimeout, NcclError); no host sync.
  void check();
  // Puts everything queued so far on `stream` under the watchdog as `what`: a CUDA graph's
  // replay, whose captured collectives record no event of their own. No host sync.
  void watch(cudaStream_t stream, const std::string& what);

  int rank() const { return rank_; }
  int size() const { return size_; }
  cudaStream_t stream() const { return stream_; }
  bool aborted() const;  // true after a failure or timeout: every later call throws

 private:
  friend class NcclWork;

  void join_world(MPI_Comm comm);               // rank, size, device check, agreement
  ncclUniqueId share_id(MPI_Comm comm) const;   // rank 0's id to every rank
  void init(const ncclUniqueId& id);            // NCCL init, stream, events, watchdog

  // Methods named *_locked expect mutex_ held.
  void order_after_locked(cudaStream_t compute_stream);  // comm stream waits for compute
  NcclWork record_done_locked(const char* op, size_t count);  // watched unless capturing
  void watch_locked(cudaStream_t stream, const std::string& what);
  void settle_locked(ncclResult_t issued, const char* op, size_t count);  // waits out ncclInProgress
  ncclResult_t poll_state_locked() noexcept;  // ncclInProgress if the timeout passed
  void ensure_usable_locked(const char* op) const;
  void abort_locked() noexcept;
  cudaEvent_t take_event_locked();
  cudaEvent_t record_locked(const char* what, cudaStream_t stream = nullptr);  // a pool event; default stream_
  void return_event_locked(cudaEvent_t event) noexcept;
  std::exception_ptr async_error_locked(const char* op, size_t count);

  // What the watchdog asks of this communicator (from its thread).
  bool finished(void* token) override;
  std::exception_ptr async_error() override;
  void abort() noexcept override;
  void release(void* token) noexcept override;

  void wait_event(cudaEvent_t event, const char* op, size_t count);  // host wait with the timeout
  void check_async(const char* op, size_t count);  // throws NcclError (after abort) on an async error
  void release_event(cudaEvent_t event) noexcept;
  void release() noexcept;  // teardown in order; also undoes a half-built constructor
  std::string where() const;  // "rank R (host H) of N ranks, device D"

  int rank_ = -1;
  int size_ = 0;
  int device_ = -1;
  std::string host_;
  std::chrono::milliseconds timeout_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool aborted_ = false;
  mutable std::mutex mutex_;         // guards comm_, aborted_ and the event pool
  std::vector<cudaEvent_t> events_;  // idle events, reused across collectives
  std::unique_ptr<Watchdog> watchdog_;  // lock order: mutex_, then the watchdog's own
};

}  // namespace nin::dist
