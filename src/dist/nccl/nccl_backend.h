// NcclBackend: the Communicator for CUDA tensors, on NcclComm (builds with a CUDA LibTorch only).
#pragma once

#include <chrono>
#include <memory>

#include <mpi.h>

#include "dist/communicator.h"

namespace nin::dist {

// One rank per GPU: `device` is this rank's CUDA device index. Collectives run on the
// communicator's own stream, ordered after the current CUDA stream. Work::wait() makes
// the current stream wait (no host sync); broadcast(), barrier() and allgather() also
// wait on the host, with the timeout. A hang in an allreduce is caught by NcclComm's watchdog
// thread, which aborts the communicator (so a blocked .item() resumes); the next call,
// or check(), then throws CollectiveTimeout.
std::unique_ptr<Communicator> make_nccl_backend(MPI_Comm comm, int device, std::chrono::milliseconds timeout);

}  // namespace nin::dist
