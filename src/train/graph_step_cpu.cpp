// CUDA graphs in a CPU-only build: none; asking for one is an input error.
#include "train/graph_step.h"

#include "util/error.h"

namespace nin::train {

void check_graph_support(const torch::Device& device) {
  throw InputError("train.cuda_graph = true needs a build with a CUDA LibTorch; this build is CPU-only (device " +
                   device.str() + "); set train.cuda_graph = false");
}

std::unique_ptr<TrainStream> use_train_stream(const torch::Device& /*device*/) { return nullptr; }

std::unique_ptr<GraphStep> make_graph_step(const torch::Device& device, StepBody /*body*/, int /*warmup_steps*/) {
  check_graph_support(device);
  return nullptr;
}

}  // namespace nin::train
