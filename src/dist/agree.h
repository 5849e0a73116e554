// Cross-rank agreement over a small CPU communicator: does any rank, do all ranks, say yes?
#pragma once

#include <cstdint>
#include <stdexcept>

#include <torch/types.h>

#include "dist/communicator.h"

namespace nin::dist {

// True on every rank when `flag` is true on at least one rank (one int32 max allreduce).
inline bool any_rank(Communicator& comm, bool flag) {
  auto t = torch::tensor({flag ? 1 : 0}, torch::kInt32);
  comm.allreduce(t, ReduceOp::kMax);
  return t.item<int32_t>() != 0;
}

// True on every rank when `flag` is true on all ranks.
inline bool all_ranks(Communicator& comm, bool flag) { return !any_rank(comm, !flag); }

// The largest `value` over the ranks (e.g. the signal that stops the run).
inline int64_t max_over_ranks(Communicator& comm, int64_t value) {
  auto t = torch::tensor({value}, torch::kInt64);
  comm.allreduce(t, ReduceOp::kMax);
  return t.item<int64_t>();
}

// True on every rank when `values` (a 1-D CPU tensor of a floating or signed integer
// type) holds equal values on every rank; a NaN equals nothing, so it reads as a
// mismatch. One max allreduce of (v, -v) gives max(v) and -min(v), which agree only if
// all ranks do. Keep integers within +-(2^63 - 1), so that -v exists.
inline bool same_on_all_ranks(Communicator& comm, const torch::Tensor& values) {
  if (values.dim() != 1 || !c10::isSignedType(values.scalar_type())) {
    throw std::invalid_argument("same_on_all_ranks: needs a 1-D tensor of a signed type");
  }
  auto both = torch::cat({values, -values}).contiguous();
  comm.allreduce(both, ReduceOp::kMax);
  const int64_t n = values.numel();
  return torch::equal(both.slice(0, 0, n), -both.slice(0, n, 2 * n));
}

}  // namespace nin::dist
