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

// Told when each bucket's allreduce starts and when it is first seen complete (the trace of
// log.trace_steps); called on the thread that runs backward or finalize.
class BucketObserver {
 public:
  virtual ~BucketObserver() = default;
  virtual void launched(size_t bucket, int64_t bytes) = 0;
  virtual void completed(size_t bucket) = 0;
};

// Every parameter's .grad is a view into its bucket, with the parameter's own strides
// (channels-last too), set once and never replaced, as DDP's gradient_as_bucket_view:
// autograd accumulates straight into the bucket, a hook after each accumulation counts the
// bucket's arrivals, and a bucket's non-blocking allreduce (average) starts when its last
// gradient arrived, so communication overlaps the rest of backward. Gradient addresses
// never change, so a CUDA graph can capture the whole step.
//
//   reducer.zero_grad();  reducer.prepare(/*sync=*/true);  loss.backward();  reducer.finalize();
//
// With sync = false (gradient accumulation, like DDP's no_sync) gradients are summed
// into the buckets locally; the next synchronised backward adds its own and reduces.
// In a world of one the average is the gradient itself: no collective runs and no bucket is
// copied, and finalize() only checks that every gradient arrived.
class Reducer {
 public:
  Reducer(std::vector<torch::Tensor> params, Communicator& comm, int64_t cap_bytes,
          int64_t first_cap_bytes);
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  void prepare(bool sync);  // before each backward
  void finalize();          // after backward: wait; param.grad() then holds the average
  void zero_grad();         // start of a new accumulation window: every bucket to 0

  size_t num_buckets() const;
  // The flat buffers the gradients are views of: every gradient element once, so a step may
  // scale all gradients with one op a bucket.
  std::vector<torch::Tensor> buckets() const;
  double wait_seconds() const { return wait_seconds_; }  // host time blocked in finalize, total
  // nullptr (the default) observes nothing: one branch per bucket and step.
  void observe(BucketObserver* observer);

 private:
  struct State;
  class ArrivalHook;
  std::unique_ptr<State> state_;
  double wait_seconds_ = 0.0;
};

}  // namespace nin::dist
