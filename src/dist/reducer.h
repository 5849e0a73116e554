// Gradient synchronisation: buckets filled by autograd hooks, allreduced during backward.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "dist/communicator.h"

namespace nin::dist {

// Splits parameters (given as byte sizes, in registration order) into buckets, in
// reverse order so that the gradients backward produces first fill the first bucket.
// The first bucket is capped at `first_cap_bytes` (small, so communication starts
// early), the others at `cap_bytes`. A parameter larger than a cap gets its own bucket.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<int64_t>& param_bytes,
                                              int64_t cap_bytes, int64_t first_cap_bytes);

// Fed by a hook on every parameter: each gradient is copied into its bucket as soon as
// autograd produces it, and a bucket's non-blocking allreduce (average) starts when its
// last gradient arrives, so communication overlaps the rest of backward.
//
//   reducer.prepare(/*sync=*/true);  loss.backward();  reducer.finalize();  opt.step();
//
// With sync = false (gradient accumulation, like DDP's no_sync) gradients are summed
// into the buckets locally; the next synchronised backward adds its own and reduces.
class Reducer {
 public:
  Reducer(std::vector<torch::Tensor> params, Communicator& comm, int64_t cap_bytes,
          int64_t first_cap_bytes);
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  void prepare(bool sync);  // before each backward
  void finalize();          // after backward: wait, then param.grad() = average
  void zero_grad();         // start of a new accumulation window

  size_t num_buckets() const;
  double wait_seconds() const { return wait_seconds_; }  // blocked in finalize, total

 private:
  struct State;
  std::unique_ptr<State> state_;
  double wait_seconds_ = 0.0;
};

}  // namespace nin::dist
