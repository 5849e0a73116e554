// .nin checkpoints through read_checkpoint, as resume, evaluate and export read them: the input
// as a whole file (magic, version, length, XXH64), then as the payload of a file written with a
// valid header and checksum, so that mutations reach what lies behind the checksum: the
// safetensors payload, the JSON metadata, and the optimizer state as restore loads it.
#include <memory>
#include <string_view>
#include <vector>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "checkpoint/checkpoint.h"
#include "checkpoint/optim_state.h"
#include "format/checkpoint_file.h"
#include "fuzz_util.h"
#include "util/error.h"

namespace {

// The optimizer the file names, over copies of its floating-point tensors: a checkpoint lists
// the parameters first, so its optimizer state indexes them as the writing run's optimizer did.
std::unique_ptr<torch::optim::Optimizer> optimizer_for(const nin::checkpoint::CheckpointFile& file) {
  std::vector<torch::Tensor> params;
  for (const auto& t : file.tensors)
    if (t.is_floating_point()) params.push_back(t.detach().clone().requires_grad_());
  if (file.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(/*lr=*/0.1).momentum(0.9));
  if (file.optimizer == "adamw") return std::make_unique<torch::optim::AdamW>(params);
  return std::make_unique<torch::optim::Adam>(params);
}

void read(const std::string& path) {
  try {
    const auto file = nin::checkpoint::read_checkpoint(path);
    nin::checkpoint::checkpoint_tensors(file);
    nin::checkpoint::load_optimizer_state(*optimizer_for(file), file.optimizer_state, path);
  } catch (const nin::InputError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read(nin::fuzz::as_file(data, size, ".nin"));
  static const nin::fuzz::Scratch wrapped(".payload.nin");
  nin::format::write_checkpoint_file(wrapped.path, std::string_view(reinterpret_cast<const char*>(data), size));
  read(wrapped.path.string());
  return 0;
}
