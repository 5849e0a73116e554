// NCCL communicator: non-blocking init, event-ordered collectives, watchdog, ordered teardown.
#include "dist/nccl/nccl_comm.h"

#include <cstring>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "dist/nccl/cuda_check.h"
#include "util/error.h"

namespace nin::dist {
namespace {

using Clock = std::chrono::steady_clock;

void check_mpi(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw std::runtime_error(detail::call_site(call, file, line) + text);
}
#define NIN_MPI_CHECK_HERE(call) check_mpi((call), #call, __FILE__, __LINE__)

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

std::string rank_text(int rank) { return rank >= 0 ? std::to_string(rank) : std::string("?"); }

// Empty when `device` is usable on this node, else the message for the user.
std::string device_problem(int device, int rank, const std::string& host) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    const std::string why = error != cudaSuccess ? cudaGetErrorString(error) : "cudaGetDeviceCount found 0 devices";
    return "no CUDA device visible on host " + host + " (rank " + rank_text(rank) + "): " + why +
           "; set device = \"cpu\" or run on a GPU node";
  }
  if (device < 0) {
    return "rank " + rank_text(rank) + " on host " + host + " asks for CUDA device " + std::to_string(device) +
           ": a device index must be >= 0";
  }
  if (device >= count) {
    return "node " + host + " has " + std::to_string(count) + (count == 1 ? " GPU" : " GPUs") + " but rank " +
           rank_text(rank) + " wants device " + std::to_string(device) + ": launch at most " +
           std::to_string(count) + " ranks per node";
  }
  return {};
}

std::string op_text(const char* op, size_t bytes) {
  std::string text = std::string("NCCL ") + op;
  if (bytes > 0) text += " of " + std::to_string(bytes) + " bytes";
  return text;
}

}  // namespace

ncclDataType_t to_nccl(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat64: return ncclFloat64;
    case DType::kBFloat16: return ncclBfloat16;
    case DType::kFloat16: return ncclFloat16;
    case DType::kInt32: return ncclInt32;
    case DType::kInt64: return ncclInt64;
    case DType::kUInt8: return ncclUint8;
  }
  throw std::invalid_argument("unknown nin::dist::DType " + std::to_string(static_cast<int>(dtype)));
}

ncclRedOp_t to_nccl(NcclOp op) {
  switch (op) {
    case NcclOp::kSum: return ncclSum;
    case NcclOp::kAvg: return ncclAvg;
    case NcclOp::kMax: return ncclMax;
    case NcclOp::kMin: return ncclMin;
  }
  throw std::invalid_argument("unknown nin::dist::NcclOp " + std::to_string(static_cast<int>(op)));
}

size_t dtype_bytes(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kBFloat16: return 2;
    case DType::kFloat16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
  }
  throw std::invalid_argument("unknown nin::dist::DType " + std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
  }
  return "unknown";
}

// ---- NcclWork ----

NcclWork::NcclWork(NcclComm* comm, cudaEvent_t done, const char* op, size_t bytes)
    : comm_(comm), done_(done), op_(op), bytes_(bytes) {}

NcclWork::NcclWork(NcclWork&& other) noexcept
    : comm_(other.comm_), done_(other.done_), op_(other.op_), bytes_(other.bytes_), finished_(other.finished_) {
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
  comm_->check_async(op_, bytes_);
  return false;
}

void NcclWork::wait(cudaStream_t consumer) {
  if (!finished_) comm_->check_async(op_, bytes_);
  // An event instead of a host sync: the consumer's next kernels queue up behind the
  // collective while this thread goes on issuing work.
  NIN_CUDA_CHECK(cudaStreamWaitEvent(consumer, done_, 0));
}

void NcclWork::synchronize() {
  if (finished_) return;
  comm_->wait_event(done_, op_, bytes_);
  finished_ = true;
}

// ---- NcclComm ----

NcclComm::NcclComm(MPI_Comm comm, int device, std::chrono::milliseconds timeout)
    : device_(device), host_(host_name()), timeout_(timeout) {
  int mpi_ready = 0;
  MPI_Initialized(&mpi_ready);  // the one MPI call that is legal before MPI_Init
  if (mpi_ready) {
    NIN_MPI_CHECK_HERE(MPI_Comm_rank(comm, &rank_));
    NIN_MPI_CHECK_HERE(MPI_Comm_size(comm, &size_));
  }

  // The device first, so a CPU node says so instead of failing somewhere inside NCCL.
  const std::string problem = device_problem(device, rank_, host_);
  if (!mpi_ready) {
    if (!problem.empty()) throw std::runtime_error(problem);
    throw std::logic_error("NcclComm needs MPI to share the NCCL id: create nin::dist::Process first");
  }
  // Every rank learns whether all devices are usable, so one rank without a GPU does not
  // leave the others waiting in MPI_Bcast or NCCL init.
  int usable = problem.empty() ? 1 : 0;
  int all_usable = 0;
  NIN_MPI_CHECK_HERE(MPI_Allreduce(&usable, &all_usable, 1, MPI_INT, MPI_MIN, comm));
  if (!usable) throw std::runtime_error(problem);
  if (!all_usable) {
    throw std::runtime_error("rank " + rank_text(rank_) + " (host " + host_ +
                             ") stops: another rank has no usable CUDA device (see its message)");
  }

  NIN_CUDA_CHECK(cudaSetDevice(device_));  // this rank's GPU from now on

  // Rank 0 makes the id; its status travels with it so a failure there stops every rank.
  struct Hello {
    int ok;
    ncclUniqueId id;
  } hello;
  std::memset(&hello, 0, sizeof(hello));
  ncclResult_t id_result = ncclSuccess;
  if (rank_ == 0) {
    id_result = ncclGetUniqueId(&hello.id);
    hello.ok = id_result == ncclSuccess ? 1 : 0;
  }
  NIN_MPI_CHECK_HERE(MPI_Bcast(&hello, sizeof(hello), MPI_BYTE, 0, comm));
  if (rank_ == 0) detail::check_nccl(id_result, "ncclGetUniqueId(&id)", __FILE__, __LINE__);
  if (!hello.ok) {
    throw std::runtime_error("rank " + rank_text(rank_) + " (host " + host_ +
                             ") stops: rank 0 could not create the NCCL id (see its message)");
  }

  try {
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // init returns at once; we poll it, so a missing rank becomes a timeout
    std::lock_guard<std::mutex> lock(mutex_);
    settle_locked(ncclCommInitRankConfig(&comm_, size_, hello.id, rank_, &config), "init", 0);
    NIN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (int i = 0; i < 4; ++i) return_event_locked(take_event_locked());  // warm the pool
  } catch (...) {
    release();
    throw;
  }
}

NcclComm::~NcclComm() { release(); }

bool NcclComm::aborted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return aborted_;
}

NcclWork NcclComm::allreduce(void* data, size_t count, DType dtype, NcclOp op, cudaStream_t compute_stream) {
  const size_t bytes = count * dtype_bytes(dtype);
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked("allreduce");
  DeviceGuard guard(device_);
  order_after_locked(compute_stream);
  settle_locked(ncclAllReduce(data, data, count, to_nccl(dtype), to_nccl(op), comm_, stream_), "allreduce",
                bytes);
  return record_done_locked("allreduce", bytes);
}

NcclWork NcclComm::broadcast(void* data, size_t count, DType dtype, int root, cudaStream_t compute_stream) {
  const size_t bytes = count * dtype_bytes(dtype);
  if (root < 0 || root >= size_) {
    throw std::invalid_argument("broadcast root " + std::to_string(root) + " is not a rank of a world of " +
                                std::to_string(size_));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked("broadcast");
  DeviceGuard guard(device_);
  order_after_locked(compute_stream);
  settle_locked(ncclBroadcast(data, data, count, to_nccl(dtype), root, comm_, stream_), "broadcast", bytes);
  return record_done_locked("broadcast", bytes);
}

void NcclComm::synchronize() {
  cudaEvent_t event = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ensure_usable_locked("synchronize");
    DeviceGuard guard(device_);
    event = take_event_locked();
    const cudaError_t recorded = cudaEventRecord(event, stream_);
    if (recorded != cudaSuccess) {
      return_event_locked(event);
      detail::check_cuda(recorded, "cudaEventRecord(event, stream_)", __FILE__, __LINE__);
    }
  }
  try {
    wait_event(event, "synchronize", 0);
  } catch (...) {
    release_event(event);
    throw;
  }
  release_event(event);
}

void NcclComm::order_after_locked(cudaStream_t compute_stream) {
  // The collective must see everything the compute stream wrote so far (e.g. gradients).
  // CUDA lets the event be reused as soon as cudaStreamWaitEvent returns.
  cudaEvent_t ready = take_event_locked();
  const cudaError_t recorded = cudaEventRecord(ready, compute_stream);
  const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(stream_, ready, 0) : recorded;
  return_event_locked(ready);
  detail::check_cuda(waited, "cudaEventRecord + cudaStreamWaitEvent(stream_, ready)", __FILE__, __LINE__);
}

NcclWork NcclComm::record_done_locked(const char* op, size_t bytes) {
  cudaEvent_t done = take_event_locked();
  const cudaError_t recorded = cudaEventRecord(done, stream_);
  if (recorded != cudaSuccess) {
    return_event_locked(done);
    detail::check_cuda(recorded, "cudaEventRecord(done, stream_)", __FILE__, __LINE__);
  }
  return NcclWork(this, done, op, bytes);
}

void NcclComm::wait_event(cudaEvent_t event, const char* op, size_t bytes) {
  const auto start = Clock::now();
  Backoff backoff;
  for (;;) {
    const cudaError_t state = cudaEventQuery(event);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) detail::check_cuda(state, "cudaEventQuery(event)", __FILE__, __LINE__);
    check_async(op, bytes);
    if (Clock::now() - start > timeout_) {
      std::lock_guard<std::mutex> lock(mutex_);
      abort_locked();
      throw CollectiveTimeout(op_text(op, bytes) + " did not complete within " + std::to_string(timeout_.count()) +
                              " ms on " + where() +
                              ": a peer rank died, stopped or is far behind; the communicator was aborted");
    }
    backoff.pause();
  }
}

void NcclComm::check_async(const char* op, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  ensure_usable_locked(op);
  ncclResult_t state = ncclSuccess;
  const ncclResult_t queried = ncclCommGetAsyncError(comm_, &state);
  const ncclResult_t failure = queried != ncclSuccess ? queried : state;
  if (failure == ncclSuccess || failure == ncclInProgress) return;
  const char* last = ncclGetLastError(comm_);
  const std::string last_message = last != nullptr ? last : "";
  abort_locked();
  throw NcclError(op_text(op, bytes) + " failed on " + where() + ": " + describe_nccl_result(failure) +
                      (last_message.empty() ? "" : "; last NCCL message: " + last_message) + "; the communicator was aborted",
                  failure);
}

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

void NcclComm::settle_locked(ncclResult_t issued, const char* op, size_t bytes) {
  // A non-blocking communicator may answer ncclInProgress: nothing else may touch it (or
  // its stream) until the state leaves ncclInProgress.
  const ncclResult_t state = issued == ncclInProgress ? poll_state_locked() : issued;
  if (state == ncclSuccess) return;
  abort_locked();
  if (state == ncclInProgress) {
    throw CollectiveTimeout(op_text(op, bytes) + " did not complete within " + std::to_string(timeout_.count()) +
                            " ms on " + where() + ": a rank is missing, stuck or cannot be reached");
  }
  throw NcclError(op_text(op, bytes) + " failed on " + where() + ": " + describe_nccl_result(state), state);
}

void NcclComm::ensure_usable_locked(const char* op) const {
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
  return "rank " + rank_text(rank_) + " of " + std::to_string(size_) + " (host " + host_ + ", device " +
         std::to_string(device_) + ")";
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
  // 1. Let queued collectives finish (with the watchdog); while unwinding from an
  //    exception, peers may never join them, so abort instead of waiting.
  if (comm_ != nullptr && stream_ != nullptr && !aborted_) {
    if (std::uncaught_exceptions() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      abort_locked();
    } else {
      try {
        synchronize();
      } catch (const std::exception& e) {
        std::cerr << "nin: NcclComm teardown: " << e.what() << '\n';
      }
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  // 2. Events.
  for (cudaEvent_t event : events_) (void)cudaEventDestroy(event);
  events_.clear();
  // 3. The communicator: finalize (non-blocking, polled) then destroy; abort if that fails.
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
  // 4. The stream, last: nothing runs on it any more.
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

}  // namespace nin::dist
