// The captured step: warm-up on a side stream, one capture into at::cuda::CUDAGraph, replays.
#include "train/graph_step.h"

#include <stdexcept>
#include <utility>

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "util/error.h"

namespace nin::train {
namespace {

// Constraints the body must meet, not checkable here (see issue 15's report):
// - NCCL: the allreduce must be issued on a stream that joins the capture (the NCCL
//   backend orders its stream after the current one by an event, which makes it join),
//   and nothing may query a captured event from the host (NcclWork::test, the watchdog):
//   they must be off while capturing. Relaxed mode lets other threads' CUDA calls proceed.
// - The learning rate and anything else that changes per step must live in device tensors
//   written before each replay; host scalars are frozen into the graph at capture.
// - Dropout: the CUDA generator's state is registered with the graph by CUDAGraph itself
//   (default generator), so replays draw fresh masks, but not the trainer's per-step seeds.
class CudaGraphStep final : public GraphStep {
 public:
  CudaGraphStep(const torch::Device& device, StepBody body, int warmup_steps)
      : device_(device), body_(std::move(body)), warmup_left_(warmup_steps),
        side_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}

  void run(const torch::Tensor& x, const torch::Tensor& y) override {
    c10::cuda::CUDAGuard guard(device_);
    if (!x_.defined()) x_ = torch::empty_like(x), y_ = torch::empty_like(y);
    if (x.sizes() != x_.sizes() || y.sizes() != y_.sizes())
      throw std::invalid_argument("CudaGraphStep: the batch shape changed; a graph replays one shape");
    x_.copy_(x, /*non_blocking=*/true);
    y_.copy_(y, /*non_blocking=*/true);
    if (captured_) return graph_.replay();
    auto current = c10::cuda::getCurrentCUDAStream(device_.index());
    side_.synchronize();  // once per warm-up or capture step: not the steady state
    side_wait(current);
    {
      c10::cuda::CUDAStreamGuard on_side(side_);
      if (warmup_left_ > 0) {
        --warmup_left_;
        body_(x_, y_);
      } else {
        graph_.capture_begin(/*pool=*/{0, 0}, cudaStreamCaptureModeRelaxed);
        body_(x_, y_);
        graph_.capture_end();
        captured_ = true;
      }
    }
    current_wait(current);
    if (captured_) graph_.replay();  // the capture only recorded: this step still has to run
  }

  bool captured() const override { return captured_; }

 private:
  // Side stream after the static inputs are written on the current one.
  void side_wait(const c10::cuda::CUDAStream& current) {
    c10::cuda::CUDAEvent ready;
    ready.record(current);
    ready.block(side_);
  }
  // Current stream after the side stream's work (warm-up or capture).
  void current_wait(const c10::cuda::CUDAStream& current) {
    c10::cuda::CUDAEvent done;
    done.record(side_);
    done.block(current);
  }

  torch::Device device_;
  StepBody body_;
  int warmup_left_;
  c10::cuda::CUDAStream side_;
  at::cuda::CUDAGraph graph_;
  torch::Tensor x_, y_;  // static inputs: the graph reads these addresses on every replay
  bool captured_ = false;
};

}  // namespace

void check_graph_support(const torch::Device& device) {
  if (!device.is_cuda())
    throw InputError("train.cuda_graph = true needs a CUDA device, but the run uses " + device.str() +
                     "; set train.device = \"cuda\" or train.cuda_graph = false");
  // Until Trainer::step runs through make_graph_step (issue 15, needs a GPU to verify), the
  // switch must not look as if it worked.
  throw InputError("train.cuda_graph = true: the captured step is built but not yet used by the trainer; "
                   "set train.cuda_graph = false");
}

std::unique_ptr<GraphStep> make_graph_step(const torch::Device& device, StepBody body, int warmup_steps) {
  check_graph_support(device);
  return std::make_unique<CudaGraphStep>(device, std::move(body), warmup_steps);
}

}  // namespace nin::train
