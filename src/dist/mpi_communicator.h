// MPI backend of Communicator, for CPU tensors.
#pragma once

#include <chrono>
#include <memory>

#include <mpi.h>

#include "dist/communicator.h"

namespace nin::dist {

// Non-blocking collectives (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier, MPI_Iallgatherv)
// polled with MPI_Test until done or until `timeout` passes, which becomes CollectiveTimeout.
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm, std::chrono::milliseconds timeout);

}  // namespace nin::dist
