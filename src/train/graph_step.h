// A training step captured once in a CUDA graph and replayed; CPU builds get a stub that says why not.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <torch/types.h>

namespace nin::train {

// The step to capture: forward, backward, gradient allreduce and optimizer update, reading
// its batch only from the two static tensors it is given, and calling nothing that syncs
// the host (no .item(), no host-side decisions on device values).
using StepBody = std::function<void(const torch::Tensor& x, const torch::Tensor& y)>;

class GraphStep {
 public:
  virtual ~GraphStep() = default;
  // Copies the batch into the static inputs (same shape every step), seeds the device's
  // generator with `dropout_seed` at offset 0 (as torch::manual_seed does for an eager
  // step, so replayed masks equal eager ones), then runs the body: eagerly for the warm-up
  // steps, captured on the next, replayed from then on.
  virtual void run(const torch::Tensor& x, const torch::Tensor& y, uint64_t dropout_seed) = 0;
};

// Makes one non-default stream of `device` current on this thread for as long as it lives;
// nothing on a CPU. Made before the model, it is the stream of every kernel of the run:
// autograd's AccumulateGrad nodes (which the reducer keeps from set-up on) then share the
// stream that forward, backward and a capture run on, so backward never orders the legacy
// default stream after a capturing one (cudaErrorStreamCaptureImplicit).
class TrainStream {
 public:
  virtual ~TrainStream() = default;
};
std::unique_ptr<TrainStream> use_train_stream(const torch::Device& device);

// Throws InputError unless this build has a CUDA LibTorch, `device` is a CUDA device and
// no fault is injected (NIN_FAULT acts on the host, which a replay skips); the trainer
// calls it at set-up when train.cuda_graph = true.
void check_graph_support(const torch::Device& device);
// The graph on `device` after `warmup_steps` eager steps (cuDNN autotuning, the optimizer's
// state and the caching allocator settle outside the capture), captured on the current
// stream, which must be the training stream (use_train_stream), never the legacy default stream.
std::unique_ptr<GraphStep> make_graph_step(const torch::Device& device, StepBody body, int warmup_steps);

}  // namespace nin::train
