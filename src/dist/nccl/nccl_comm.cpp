// NCCL communicator: non-blocking init, event-ordered collectives, watchdog, ordered teardown.
#include "dist/nccl/nccl_comm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "dist/mpi_check.h"
#include "dist/mpi_wait.h"
#include "dist/nccl/cuda_check.h"
#include "util/error.h"

namespace nin::dist {
namespace {

using Clock = std::chrono::steady_clock;

// Spin briefly (a collective often finishes within microseconds), then sleep so that a
// long wait does not burn a core the data loader could use.
struct Backoff {
  int spins = 0;
  void pause() {
    if (spins < 1000) {
      ++spins;
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
};

// Makes `device` current for one call and restores the caller's device: collectives may
// be issued from autograd's device threads, whose current device we must not change.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) : device_(device) {
    NIN_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device_) NIN_CUDA_CHECK(cudaSetDevice(device_));
  }
  ~DeviceGuard() {
    if (previous_ != device_) (void)cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int device_;
  int previous_ = 0;
};

// Empty when `device` is usable on this node, else the message for the user.
std::string device_problem(int device, int rank, const std::string& host) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    const std::string why = error != cudaSuccess ? cudaGetErrorString(error) : "cudaGetDeviceCount found 0 devices";
    return "no CUDA device visible for " + rank_on_host(rank, host) + ": " + why +
           "; set device = \"cpu\" or run on a GPU node";
  }
  if (device < 0) {
    return rank_on_host(rank, host) + " asks for CUDA device " + std::to_string(device) +
           ": a device index must be >= 0";
  }
  if (device >= count) {
    return rank_on_host(rank, host) + " wants device " + std::to_string(device) + " but the host has " +
           std::to_string(count) + (count == 1 ? " GPU" : " GPUs") + ": launch at most " +
           std::to_string(count) + " ranks per node";
  }
  return {};
}

std::string op_text(const char* op, size_t count) {
  std::string text = std::string("NCCL ") + op;
  if (count > 0) text += " of " + std::to_string(count) + " elements";
  return text;
}

// How often the watchdog looks: a timeout is noticed at most this late.
std::chrono::milliseconds watchdog_period(std::chrono::milliseconds timeout) {
  return std::clamp(timeout / 20, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
}

// After a timeout, how long the host has to see it at its next check() and exit by itself
// before the watchdog ends the process: a kernel stuck on the stream outlives ncclCommAbort.
constexpr std::chrono::milliseconds kExitGrace{5000};

}  // namespace

ncclRedOp_t to_nccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAvg: return ncclAvg;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  throw std::invalid_argument("unknown nin::dist::ReduceOp " + std::to_string(static_cast<int>(op)));
}

// ---- NcclWork ----

NcclWork::NcclWork(NcclComm* comm, cudaEvent_t done, const char* op, size_t count)
    : comm_(comm), done_(done), op_(op), count_(count) {}

NcclWork::NcclWork(NcclWork&& other) noexcept
    : comm_(other.comm_), done_(other.done_), op_(other.op_), count_(other.count_), finished_(other.finished_) {
  other.comm_ = nullptr;
  other.done_ = nullptr;
}

NcclWork::~NcclWork() {
  if (comm_ != nullptr && done_ != nullptr) comm_->release_event(done_);
}

bool NcclWork::test() {
  if (finished_) return true;
  const cudaError_t state = cudaEventQuery(done_);
  if (state == cudaSuccess) return finished_ = true;
  if (state != cudaErrorNotReady) detail::check_cuda(state, "cudaEventQuery(done)", __FILE__, __LINE__);
  comm_->check_async(op_, count_);
  return false;
}

void NcclWork::wait(cudaStream_t consumer) {
  if (!finished_) comm_->check_async(op_, count_);
  // An event instead of a host sync: the consumer's next kernels queue up behind the
  // collective while this thread goes on issuing work.
  NIN_CUDA_CHECK(cudaStreamWaitEvent(consumer, done_, 0));
}

void NcclWork::synchronize() {
  if (finished_) return;
  comm_->wait_event(done_, op_, count_);
  finished_ = true;
}

// ---- NcclComm ----

NcclComm::NcclComm(MPI_Comm comm, int device, std::chrono::milliseconds timeout)
    : device_(device), host_(this_host()), timeout_(timeout) {
  join_world(comm);
  const ncclUniqueId id = share_id(comm);
  try {
    init(id);
  } catch (...) {
    release();
    throw;
  }
}

NcclComm::~NcclComm() { release(); }

void NcclComm::join_world(MPI_Comm comm) {
  int mpi_ready = 0;
  MPI_Initialized(&mpi_ready);  // the one MPI call that is legal before MPI_Init
  if (mpi_ready) {
    NIN_MPI_CHECK(MPI_Comm_rank(comm, &rank_));
    NIN_MPI_CHECK(MPI_Comm_size(comm, &size_));
  }
  // The device first, so a CPU node says so instead of failing somewhere inside NCCL.
  const std::string problem = device_problem(device_, rank_, host_);
  if (!mpi_ready) {
    if (!problem.empty()) throw std::runtime_error(problem);
    throw std::logic_error("NcclComm needs MPI to share the NCCL id: create nin::dist::Process first");
  }
  // Every rank learns whether all devices are usable, so one rank without a GPU does not
  // leave the others waiting in MPI_Bcast or NCCL init. Raw MPI: no Communicator exists yet.
  struct Usable {
    int mine, all;
  };
  auto flags = std::make_shared<Usable>(Usable{problem.empty() ? 1 : 0, 0});  // leaked, not freed, on a timeout
  MPI_Request request = MPI_REQUEST_NULL;
  NIN_MPI_CHECK(MPI_Iallreduce(&flags->mine, &flags->all, 1, MPI_INT, MPI_MIN, comm, &request));
  wait_within(request, timeout_, "checking every rank's CUDA device (MPI_Iallreduce)", flags);
  if (!flags->mine) throw std::runtime_error(problem);
  if (!flags->all) {
    throw std::runtime_error(rank_on_host(rank_, host_) + " stops: another rank has no usable CUDA device (see its message)");
  }
  NIN_CUDA_CHECK(cudaSetDevice(device_));  // this rank's GPU from now on
}

ncclUniqueId NcclComm::share_id(MPI_Comm comm) const {
  // Rank 0 makes the id; its status travels with it so a failure there stops every rank.
  struct Hello {
    int ok;
    ncclUniqueId id;
  };
  auto shared = std::make_shared<Hello>();  // on the heap: leaked, not freed, if the wait times out
  Hello& hello = *shared;
  std::memset(&hello, 0, sizeof(hello));
  ncclResult_t id_result = ncclSuccess;
  if (rank_ == 0) {
    id_result = ncclGetUniqueId(&hello.id);
    hello.ok = id_result == ncclSuccess ? 1 : 0;
  }
  MPI_Request request = MPI_REQUEST_NULL;
  NIN_MPI_CHECK(MPI_Ibcast(&hello, sizeof(hello), MPI_BYTE, 0, comm, &request));
  wait_within(request, timeout_, "sharing the NCCL id (MPI_Ibcast)", shared);
  if (rank_ == 0) detail::check_nccl(id_result, "ncclGetUniqueId(&id)", __FILE__, __LINE__);
  if (!hello.ok) {
    throw std::runtime_error(rank_on_host(rank_, host_) + " stops: rank 0 could not create the NCCL id (see its message)");
  }
  return hello.id;
}

void NcclComm::init(const ncclUniqueId& id) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // init returns at once; we poll it, so a missing rank becomes a timeout
  std::lock_guard<std::mutex> lock(mutex_);
  settle_locked(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config), "init", 0);
  NIN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  for (int i = 0; i < 8; ++i) return_event_locked(take_event_locked());  // warm the pool
  watchdog_ = std::make_unique<Watchdog>(static_cast<Watched&>(*this), timeout_, watchdog_period(timeout_), kExitGrace);
}

bool NcclComm::aborted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return aborted_;
}

NcclWork NcclComm::allreduce(void* data, size_t count, ncclDataType_t type, ReduceOp op,
                             cudaStream_t compute_stream) {
  const ncclRedOp_t nccl_op = to_nccl(op);
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked("allreduce");
  DeviceGuard guard(device_);
  order_after_locked(compute_stream);
  settle_locked(ncclAllReduce(data, data, count, type, nccl_op, comm_, stream_), "allreduce", count);
  return record_done_locked("allreduce", count);
}

NcclWork NcclComm::broadcast(void* data, size_t count, ncclDataType_t type, int root, cudaStream_t compute_stream) {
  if (root < 0 || root >= size_) {
    throw std::invalid_argument("broadcast root " + std::to_string(root) + " is not a rank of a world of " +
                                std::to_string(size_));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked("broadcast");
  DeviceGuard guard(device_);
  order_after_locked(compute_stream);
  settle_locked(ncclBroadcast(data, data, count, type, root, comm_, stream_), "broadcast", count);
  return record_done_locked("broadcast", count);
}

NcclWork NcclComm::allgather(const void* send, void* recv, size_t count, ncclDataType_t type,
                             cudaStream_t compute_stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked("allgather");
  DeviceGuard guard(device_);
  order_after_locked(compute_stream);
  settle_locked(ncclAllGather(send, recv, count, type, comm_, stream_), "allgather", count);
  return record_done_locked("allgather", count);
}

void NcclComm::synchronize() {
  cudaEvent_t event = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ensure_usable_locked("synchronize");
    DeviceGuard guard(device_);
    event = record_locked("cudaEventRecord(event, stream_)");
  }
  try {
    wait_event(event, "synchronize", 0);
  } catch (...) {
    release_event(event);
    throw;
  }
  release_event(event);
}

void NcclComm::check() { check_async("check", 0); }

void NcclComm::order_after_locked(cudaStream_t compute_stream) {
  // The collective must see everything the compute stream wrote so far (e.g. gradients).
  // CUDA lets the event be reused as soon as cudaStreamWaitEvent returns.
  cudaEvent_t ready = take_event_locked();
  const cudaError_t recorded = cudaEventRecord(ready, compute_stream);
  const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(stream_, ready, 0) : recorded;
  return_event_locked(ready);
  detail::check_cuda(waited, "cudaEventRecord + cudaStreamWaitEvent(stream_, ready)", __FILE__, __LINE__);
}

NcclWork NcclComm::record_done_locked(const char* op, size_t count) {
  // Two events: the watchdog's, which it releases once the collective is done, and the
  // caller's, which lives as long as its NcclWork; each may outlast the other. While a
  // CUDA graph captures (the stream joined the capture through order_after_locked), an
  // event marks a dependency and never completes on its own: the watchdog must not poll
  // it, and watches the replays instead (watch()).
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  NIN_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
  if (capture == cudaStreamCaptureStatusNone) watch_locked(stream_, op_text(op, count));
  return NcclWork(this, record_locked("cudaEventRecord(done, stream_)"), op, count);
}

void NcclComm::watch(cudaStream_t stream, const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked("watch");
  DeviceGuard guard(device_);
  watch_locked(stream, what);
}

void NcclComm::watch_locked(cudaStream_t stream, const std::string& what) {
  cudaEvent_t watched = record_locked("cudaEventRecord(watched, stream)", stream);
  try {
    watchdog_->watch(watched, what + " on " + where());
  } catch (...) {
    return_event_locked(watched);
    throw;
  }
}

cudaEvent_t NcclComm::record_locked(const char* call, cudaStream_t stream) {
  cudaEvent_t event = take_event_locked();
  const cudaError_t recorded = cudaEventRecord(event, stream != nullptr ? stream : stream_);
  if (recorded != cudaSuccess) {
    return_event_locked(event);
    detail::check_cuda(recorded, call, __FILE__, __LINE__);
  }
  return event;
}

void NcclComm::wait_event(cudaEvent_t event, const char* op, size_t count) {
  const auto start = Clock::now();
  Backoff backoff;
  for (;;) {
    const cudaError_t state = cudaEventQuery(event);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) detail::check_cuda(state, "cudaEventQuery(event)", __FILE__, __LINE__);
    check_async(op, count);
    if (Clock::now() - start > timeout_) {
      std::lock_guard<std::mutex> lock(mutex_);
      abort_locked();
      throw CollectiveTimeout(op_text(op, count) + " did not complete within " + std::to_string(timeout_.count()) +
                              " ms on " + where() +
                              ": a peer rank died, stopped or is far behind; the communicator was aborted");
    }
    backoff.pause();
  }
}

void NcclComm::check_async(const char* op, size_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked(op);
  if (std::exception_ptr error = async_error_locked(op, count)) {
    abort_locked();
    std::rethrow_exception(error);
  }
}

std::exception_ptr NcclComm::async_error_locked(const char* op, size_t count) {
  if (comm_ == nullptr) return nullptr;
  ncclResult_t state = ncclSuccess;
  const ncclResult_t queried = ncclCommGetAsyncError(comm_, &state);
  const ncclResult_t failure = queried != ncclSuccess ? queried : state;
  if (failure == ncclSuccess || failure == ncclInProgress) return nullptr;
  const char* last = ncclGetLastError(comm_);
  const std::string last_message = last != nullptr ? last : "";
  return std::make_exception_ptr(
      NcclError(op_text(op, count) + " failed on " + where() + ": " + describe_nccl_result(failure) +
                    (last_message.empty() ? "" : "; last NCCL message: " + last_message) +
                    "; the communicator was aborted",
                failure));
}

// ---- what the watchdog thread asks ----

bool NcclComm::finished(void* token) {
  // The watchdog thread is ours: it may keep this device, and must, or its first CUDA
  // call would create a context on device 0.
  NIN_CUDA_CHECK(cudaSetDevice(device_));
  const cudaError_t state = cudaEventQuery(static_cast<cudaEvent_t>(token));
  if (state == cudaSuccess) return true;
  if (state != cudaErrorNotReady) detail::check_cuda(state, "cudaEventQuery(watched)", __FILE__, __LINE__);
  return false;
}

std::exception_ptr NcclComm::async_error() {
  std::lock_guard<std::mutex> lock(mutex_);
  return async_error_locked("collective", 0);
}

void NcclComm::abort() noexcept {
  (void)cudaSetDevice(device_);
  std::lock_guard<std::mutex> lock(mutex_);
  abort_locked();
}

void NcclComm::release(void* token) noexcept { release_event(static_cast<cudaEvent_t>(token)); }

ncclResult_t NcclComm::poll_state_locked() noexcept {
  const auto start = Clock::now();
  Backoff backoff;
  for (;;) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t queried = ncclCommGetAsyncError(comm_, &state);
    if (queried != ncclSuccess) return queried;
    if (state != ncclInProgress) return state;
    if (Clock::now() - start > timeout_) return ncclInProgress;
    backoff.pause();
  }
}

void NcclComm::settle_locked(ncclResult_t issued, const char* op, size_t count) {
  // A non-blocking communicator may answer ncclInProgress: nothing else may touch it (or
  // its stream) until the state leaves ncclInProgress.
  const ncclResult_t state = issued == ncclInProgress ? poll_state_locked() : issued;
  if (state == ncclSuccess) return;
  abort_locked();
  if (state == ncclInProgress) {
    throw CollectiveTimeout(op_text(op, count) + " did not complete within " + std::to_string(timeout_.count()) +
                            " ms on " + where() + ": a rank is missing, stuck or cannot be reached");
  }
  throw NcclError(op_text(op, count) + " failed on " + where() + ": " + describe_nccl_result(state), state);
}

void NcclComm::ensure_usable_locked(const char* op) const {
  if (watchdog_) watchdog_->check();  // its CollectiveTimeout says more than "aborted"
  if (aborted_ || comm_ == nullptr) {
    throw std::runtime_error(std::string("NCCL ") + op + " on " + where() +
                             ": the communicator was aborted after an earlier error");
  }
}

void NcclComm::abort_locked() noexcept {
  if (comm_ != nullptr) (void)ncclCommAbort(comm_);  // ends pending kernels too
  comm_ = nullptr;
  aborted_ = true;
}

std::string NcclComm::where() const {
  return rank_on_host(rank_, host_) + " of " + std::to_string(size_) + " ranks, device " + std::to_string(device_);
}

cudaEvent_t NcclComm::take_event_locked() {
  if (!events_.empty()) {
    cudaEvent_t event = events_.back();
    events_.pop_back();
    return event;
  }
  cudaEvent_t event = nullptr;
  DeviceGuard guard(device_);  // an event belongs to the device current at creation
  NIN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

void NcclComm::return_event_locked(cudaEvent_t event) noexcept {
  try {
    events_.push_back(event);
  } catch (...) {
    (void)cudaEventDestroy(event);
  }
}

void NcclComm::release_event(cudaEvent_t event) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  return_event_locked(event);
}

void NcclComm::release() noexcept {
  // 1. Let queued collectives finish (with the timeout); while unwinding from an
  //    exception, peers may never join them, so abort instead of waiting.
  bool live = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live = comm_ != nullptr && stream_ != nullptr && !aborted_;
    if (live && std::uncaught_exceptions() > 0) {
      abort_locked();
      live = false;
    }
  }
  if (live) {
    try {
      synchronize();
    } catch (const std::exception& e) {
      std::cerr << "nin: NcclComm teardown: " << e.what() << '\n';
    }
  }
  // 2. The watchdog: joins its thread and hands back its events (it takes mutex_ for that).
  watchdog_.reset();
  std::lock_guard<std::mutex> lock(mutex_);
  // 3. Events.
  for (cudaEvent_t event : events_) (void)cudaEventDestroy(event);
  events_.clear();
  // 4. The communicator: finalize (non-blocking, polled) then destroy; abort if that fails.
  if (comm_ != nullptr) {
    const ncclResult_t finalized = ncclCommFinalize(comm_);
    const ncclResult_t state = finalized == ncclInProgress ? poll_state_locked() : finalized;
    if (state == ncclSuccess) {
      (void)ncclCommDestroy(comm_);
      comm_ = nullptr;
    } else {
      std::cerr << "nin: NcclComm teardown on " << where() << ": finalize "
                << (state == ncclInProgress ? std::string("timed out") : describe_nccl_result(state))
                << "; aborting\n";
      abort_locked();
    }
  }
  // 5. The stream, last: nothing runs on it any more.
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

}  // namespace nin::dist
