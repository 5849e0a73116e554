// NCCL on raw device pointers and CUDA streams, with a watchdog; needs the toolkit, not LibTorch.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

namespace nin::dist {

// Element types the NCCL backend moves (LibTorch's adapter maps torch dtypes onto these).
enum class DType { kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kUInt8 };

// Reductions; kAvg is NCCL's own ncclAvg (sum then divide on the device, one pass).
enum class NcclOp { kSum, kAvg, kMax, kMin };

ncclDataType_t to_nccl(DType dtype);
ncclRedOp_t to_nccl(NcclOp op);
size_t dtype_bytes(DType dtype);  // bytes per element
const char* dtype_name(DType dtype);

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
  // Orders `consumer` after the collective; no host sync, so a hung peer is not seen here.
  void wait(cudaStream_t consumer);
  // Host wait with the watchdog: throws CollectiveTimeout (after aborting the
  // communicator) when the timeout passes, NcclError when NCCL reports a failure.
  void synchronize();

 private:
  friend class NcclComm;
  NcclWork(NcclComm* comm, cudaEvent_t done, const char* op, size_t bytes);

  NcclComm* comm_;
  cudaEvent_t done_;
  const char* op_;  // "allreduce", "broadcast": for messages
  size_t bytes_;
  bool finished_ = false;
};

// One NCCL communicator over an MPI communicator, one rank per GPU. Collectives run on
// the communicator's own stream, ordered after the caller's stream by events, so they
// overlap the caller's compute. Non-copyable; destroy every NcclWork first.
class NcclComm {
 public:
  // Checks the device before any collective MPI call, so a node without a GPU fails with
  // a clear message; then all ranks agree (MPI_Allreduce of a flag), so one bad rank
  // stops every rank instead of leaving them waiting. Then rank 0 creates the NCCL id, MPI_Bcast shares it, and the
  // non-blocking init is polled until it completes or `timeout` passes.
  NcclComm(MPI_Comm comm, int device, std::chrono::milliseconds timeout);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // In place over `count` elements at `data` (device memory), after all work already
  // queued on `compute_stream`.
  NcclWork allreduce(void* data, size_t count, DType dtype, NcclOp op, cudaStream_t compute_stream);
  NcclWork broadcast(void* data, size_t count, DType dtype, int root, cudaStream_t compute_stream);
  // Host wait, with the watchdog, for everything queued on the communicator's stream.
  void synchronize();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }
  const std::string& host() const { return host_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  cudaStream_t stream() const { return stream_; }
  bool aborted() const;  // true after a failure or timeout: every later call throws

 private:
  friend class NcclWork;

  // Methods named *_locked expect mutex_ held.
  void order_after_locked(cudaStream_t compute_stream);  // comm stream waits for compute
  NcclWork record_done_locked(const char* op, size_t bytes);
  void settle_locked(ncclResult_t issued, const char* op, size_t bytes);  // waits out ncclInProgress
  ncclResult_t poll_state_locked() noexcept;  // ncclInProgress if the timeout passed
  void ensure_usable_locked(const char* op) const;
  void abort_locked() noexcept;
  cudaEvent_t take_event_locked();
  void return_event_locked(cudaEvent_t event) noexcept;

  void wait_event(cudaEvent_t event, const char* op, size_t bytes);  // the watchdog
  void check_async(const char* op, size_t bytes);  // throws NcclError (after abort) on an async error
  void release_event(cudaEvent_t event) noexcept;
  void release() noexcept;  // teardown in order; also undoes a half-built constructor
  std::string where() const;  // "rank R of N (host H, device D)"

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
};

}  // namespace nin::dist
