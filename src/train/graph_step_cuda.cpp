// The captured step: warm-up on a side stream, one capture into at::cuda::CUDAGraph, replays.
#include "train/graph_step.h"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "util/error.h"

namespace nin::train {
namespace {

// What the body (StaticStep) does so that it can be captured:
// - NCCL: the allreduce is issued on the communicator's stream, which joins the capture by
//   waiting on an event of the capturing stream; NcclComm records no watchdog event while
//   capturing and the reducer queries nothing on a GPU. The watchdog watches each replay
//   instead (Communicator::watch after run()). Relaxed mode lets other threads' CUDA calls
//   (the watchdog's) proceed during the capture.
// - The lr, step count and Adam's bias corrections are device tensors the step updates;
//   no host scalar that changes per step is frozen into the graph.
// - Dropout: CUDAGraph registers the default CUDA generator; its seed and offset are read
//   at each replay, so setting them before replay() gives the masks an eager step draws.
class CudaGraphStep final : public GraphStep {
 public:
  CudaGraphStep(const torch::Device& device, StepBody body, int warmup_steps)
      : device_(device), body_(std::move(body)), warmup_left_(warmup_steps),
        side_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}

  void run(const torch::Tensor& x, const torch::Tensor& y, uint64_t dropout_seed) override {
    c10::cuda::CUDAGuard guard(device_);
    if (!x_.defined()) x_ = torch::empty_like(x), y_ = torch::empty_like(y);
    if (x.sizes() != x_.sizes() || y.sizes() != y_.sizes())
      throw std::invalid_argument("CudaGraphStep: the batch shape changed; a graph replays one shape");
    x_.copy_(x, /*non_blocking=*/true);
    y_.copy_(y, /*non_blocking=*/true);
    seed(dropout_seed);
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
  // The default CUDA generator at (seed, offset 0): what torch::manual_seed leaves, without
  // touching the CPU generator. A replay reads both, so each step draws its own masks.
  void seed(uint64_t value) {
    auto gen = at::cuda::detail::getDefaultCUDAGenerator(device_.index());
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(value);
    gen.set_offset(0);
  }

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
  if (std::getenv("NIN_FAULT"))
    throw InputError("train.cuda_graph = true: NIN_FAULT injects faults from the host, which a replayed step "
                     "skips; unset NIN_FAULT or set train.cuda_graph = false");
}

std::unique_ptr<GraphStep> make_graph_step(const torch::Device& device, StepBody body, int warmup_steps) {
  check_graph_support(device);
  return std::make_unique<CudaGraphStep>(device, std::move(body), warmup_steps);
}

}  // namespace nin::train
