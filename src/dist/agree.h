// Cross-rank agreement over a small CPU communicator: does any rank, do all ranks, say yes?
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

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

// Every rank's `mine`, cut to `max_bytes`, in rank order, on every rank: a sum allreduce of
// rows that are zero but for each rank's own (an all-gather from the allreduce every
// communicator has). For a few names once a run, not for a hot path.
inline std::vector<std::string> gather_strings(Communicator& comm, const std::string& mine, int64_t max_bytes) {
  auto rows = torch::zeros({comm.size(), max_bytes}, torch::kInt64);
  auto own = rows[comm.rank()];  // a view: writes go into `rows`
  for (size_t i = 0; i < mine.size() && int64_t(i) < max_bytes; ++i)
    own[int64_t(i)] = int64_t{static_cast<unsigned char>(mine[i])};
  comm.allreduce(rows, ReduceOp::kSum);
  const auto r = rows.accessor<int64_t, 2>();
  std::vector<std::string> out(size_t(comm.size()));
  for (int64_t k = 0; k < comm.size(); ++k)
    for (int64_t i = 0; i < max_bytes && r[k][i] != 0; ++i) out[size_t(k)] += static_cast<char>(r[k][i]);
  return out;
}

}  // namespace nin::dist
