// Communicator choice in a CPU-only build: MPI for a world of several, local for one.
#include <stdexcept>

#include "dist/factory.h"
#include "dist/mpi_communicator.h"
#include "util/error.h"

namespace nin::dist {

std::unique_ptr<Communicator> make_communicator(const Process& process, const torch::Device& device,
                                                std::chrono::milliseconds timeout) {
  if (device.is_cuda()) {
    throw InputError(
        "device = \"cuda\" needs a build with a CUDA LibTorch and NCCL; this build is CPU-only");
  }
  if (!device.is_cpu()) {
    throw InputError("device = \"" + device.str() + "\" is not supported; use \"cpu\" or \"cuda\"");
  }
  if (process.size() == 1) return make_local_communicator();
  return make_mpi_communicator(MPI_COMM_WORLD, timeout);  // the Process's world
}

bool nccl_available() { return false; }

}  // namespace nin::dist
