// The reductions every backend offers; torch-free, so the raw NCCL layer shares it.
#pragma once

namespace nin::dist {

// kAvg is the sum divided by the world size, applied only once the sum is complete
// (MPI divides on the host afterwards, NCCL uses its own ncclAvg on the device).
enum class ReduceOp { kSum, kAvg, kMax, kMin };

}  // namespace nin::dist
