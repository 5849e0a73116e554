// The collectives a data-parallel trainer needs, behind one small interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "dist/reduce_op.h"

namespace nin::dist {

// A collective in flight. wait() throws nin::CollectiveTimeout when the communicator's
// timeout passes first (a peer died or stopped).
class Work {
 public:
  virtual ~Work() = default;
  virtual bool test() = 0;  // true once complete; also drives progress
  virtual void wait() = 0;
};

// Backends: local (one process, no-ops), MPI (CPU tensors), NCCL (CUDA tensors).
// Tensors must be dense (contiguous or channels-last) and laid out alike on every rank, since
// elements are matched in memory order; results are written in place. kAvg divides only after
// the reduction completed.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::unique_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op) = 0;
  virtual void broadcast(torch::Tensor tensor, int root) = 0;
  virtual void barrier() = 0;
  // Every rank's `mine`, in rank order, on every rank (MPI_Allgatherv): element r is rank
  // r's tensor. Sizes along dim 0 may differ between ranks; the dtype and the shape of a row
  // (dims 1..) must not, else std::invalid_argument naming the first rank that differs, on
  // every rank. Blocking, with the timeout; the results are views of one new buffer (a world
  // of one returns `mine`). For small messages now and then (names, trace spans), not the step.
  virtual std::vector<torch::Tensor> allgather(const torch::Tensor& mine) = 0;
  // Throws what a background watchdog found since the last call (CollectiveTimeout,
  // NcclError), else returns at once: no host sync, so it fits any point of the loop.
  // Backends whose Work::wait() already waits on the host (local, MPI) have nothing to add.
  virtual void check() {}
  // Puts all work queued so far on the device (a CUDA graph replay, whose collectives were
  // captured and so are not watched one by one) under the watchdog, as `what`. No host sync;
  // nothing to do for backends that wait on the host.
  virtual void watch(const std::string& /*what*/) {}
  // Fault injection (NIN_FAULT=stall): queues a kernel that never ends on the communication
  // stream, so every later collective is stuck behind it. False where collectives run on the
  // host (local, MPI): there the caller stalls itself instead.
  virtual bool stall_stream() { return false; }

  void allreduce(torch::Tensor tensor, ReduceOp op) { allreduce_async(tensor, op)->wait(); }
};

// A world of one: every collective completes at once and leaves its tensor unchanged.
std::unique_ptr<Communicator> make_local_communicator();

// Every rank's `mine`, in rank order, on every rank: one allgather of the bytes. Needs a
// communicator for CPU tensors (local, MPI).
inline std::vector<std::string> allgather_strings(Communicator& comm, const std::string& mine) {
  auto bytes = torch::empty({int64_t(mine.size())}, torch::kUInt8);
  std::copy(mine.begin(), mine.end(), reinterpret_cast<char*>(bytes.data_ptr<uint8_t>()));
  std::vector<std::string> out;
  for (const auto& theirs : comm.allgather(bytes)) {
    const auto* data = reinterpret_cast<const char*>(theirs.data_ptr<uint8_t>());
    out.emplace_back(data, data + theirs.numel());
  }
  return out;
}

}  // namespace nin::dist
