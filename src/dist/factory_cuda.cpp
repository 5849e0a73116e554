// Backend choice in builds with a CUDA LibTorch and NCCL.
#include "dist/factory.h"

#include "dist/mpi_communicator.h"
#include "dist/nccl/nccl_backend.h"

namespace nin::dist {

std::unique_ptr<Communicator> make_communicator(const Process& process, const torch::Device& device,
                                                std::chrono::milliseconds timeout) {
  if (device.is_cuda()) {
    // NCCL even for a world of one: the same code path on one GPU as on many.
    const int index = device.has_index() ? device.index() : process.local_rank();
    return make_nccl_backend(MPI_COMM_WORLD, index, timeout);
  }
  if (process.size() == 1) return make_local_communicator();
  return make_mpi_communicator(MPI_COMM_WORLD, timeout);
}

bool nccl_available() { return true; }

}  // namespace nin::dist
