// The captured step: warm-up and one capture on the training stream into at::cuda::CUDAGraph, replays.
#include "train/graph_step.h"

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "util/error.h"

namespace nin::train {
namespace {

// What the body (StaticStep) does so that it can be captured:
// - Every kernel of the run goes to one non-default stream (use_train_stream, made before the
//   model), so the capture runs on the stream autograd's nodes were made on, as PyTorch's
//   recipe asks (warm up and capture on a side stream; DDP: build under that stream).
// - NCCL: the allreduce is issued on the communicator's stream, which joins the capture by
//   waiting on an event of the capturing stream; NcclComm records no watchdog event while
//   capturing and the reducer queries nothing on a GPU. The watchdog watches each replay
//   instead (Communicator::watch after run()). Relaxed mode lets other threads' CUDA calls
//   (the watchdog's) proceed during the capture. A world of one runs no collective.
// - The lr, step count and Adam's bias corrections are device tensors the step updates;
//   no host scalar that changes per step is frozen into the graph.
// - Dropout: the default CUDA generator is registered with the graph; its seed and offset
//   are read at each replay, so setting them before replay() gives the masks an eager step
//   draws.
class CudaGraphStep final : public GraphStep {
 public:
  CudaGraphStep(const torch::Device& device, StepBody body, int warmup_steps)
      : device_(device), body_(std::move(body)), warmup_left_(warmup_steps) {}

  void run(const torch::Tensor& x, const torch::Tensor& y, uint64_t dropout_seed) override {
    c10::cuda::CUDAGuard guard(device_);
    if (!x_.defined()) x_ = torch::empty_like(x), y_ = torch::empty_like(y);
    if (x.sizes() != x_.sizes() || y.sizes() != y_.sizes())
      throw std::invalid_argument("CudaGraphStep: the batch shape changed; a graph replays one shape");
    x_.copy_(x, /*non_blocking=*/true);
    y_.copy_(y, /*non_blocking=*/true);
    seed(dropout_seed);
    if (captured_) return graph_.replay();
    if (warmup_left_ > 0) {
      --warmup_left_;
      return body_(x_, y_);
    }
    if (c10::cuda::getCurrentCUDAStream(device_.index()) == c10::cuda::getDefaultCUDAStream(device_.index()))
      throw std::logic_error("CudaGraphStep: capture on the training stream (use_train_stream), not the default one");
    // Host sync, once per run: the warm-up's work, the communicator's stream included,
    // finishes outside the capture.
    c10::cuda::device_synchronize();
    // Dropout's generator, named to the graph (its default one is registered anyway): each
    // replay then reads the seed and offset seed() set instead of those frozen at capture.
    graph_.register_generator_state(at::cuda::detail::getDefaultCUDAGenerator(device_.index()));
    graph_.capture_begin(/*pool=*/{0, 0}, cudaStreamCaptureModeRelaxed);
    body_(x_, y_);
    graph_.capture_end();
    captured_ = true;
    graph_.replay();  // the capture only recorded: this step still has to run
  }

 private:
  // The default CUDA generator at (seed, offset 0): what torch::manual_seed leaves, without
  // touching the CPU generator. A replay reads both, so each step draws its own masks.
  void seed(uint64_t value) {
    auto gen = at::cuda::detail::getDefaultCUDAGenerator(device_.index());
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(value);
    gen.set_offset(0);
  }

  torch::Device device_;
  StepBody body_;
  int warmup_left_;
  at::cuda::CUDAGraph graph_;
  torch::Tensor x_, y_;  // static inputs: the graph reads these addresses on every replay
  bool captured_ = false;
};

class CudaTrainStream final : public TrainStream {
 public:
  explicit CudaTrainStream(const torch::Device& device)
      : guard_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}

 private:
  c10::cuda::CUDAStreamGuard guard_;  // restores the stream that was current before
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

std::unique_ptr<TrainStream> use_train_stream(const torch::Device& device) {
  if (!device.is_cuda()) return nullptr;
  return std::make_unique<CudaTrainStream>(device);
}

std::unique_ptr<GraphStep> make_graph_step(const torch::Device& device, StepBody body, int warmup_steps) {
  check_graph_support(device);
  return std::make_unique<CudaGraphStep>(device, std::move(body), warmup_steps);
}

}  // namespace nin::train
