// A training step captured once in a CUDA graph and replayed; CPU builds get a stub that says why not.
#pragma once

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
  // Copies the batch into the static inputs (same shape every step), then runs the body:
  // eagerly for the warm-up steps, captured on the next, replayed from then on.
  virtual void run(const torch::Tensor& x, const torch::Tensor& y) = 0;
  virtual bool captured() const = 0;
};

// Throws InputError unless this build has a CUDA LibTorch and `device` is a CUDA device
// (train.cuda_graph = true); the trainer calls it at set-up.
void check_graph_support(const torch::Device& device);
// The graph on `device` after `warmup_steps` eager steps on a side stream (cuDNN autotuning
// and the caching allocator settle there, outside the capture).
std::unique_ptr<GraphStep> make_graph_step(const torch::Device& device, StepBody body, int warmup_steps);

}  // namespace nin::train
