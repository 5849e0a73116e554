// The training loop: batch, forward, backward, reduce, step; evaluation and checkpoints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/types.h>

#include "data/batch.h"
#include "data/fashion_mnist.h"
#include "dist/communicator.h"
#include "dist/process.h"
#include "model/nin.h"
#include "train/config.h"

namespace nin::train {

struct EvalResult {
  double loss = 0;          // mean cross-entropy over the evaluated images
  double accuracy = 0;
  int64_t count = 0;        // images evaluated, each exactly once across ranks
  torch::Tensor confusion;  // [classes, classes] int64, rows = true class
};

// Evaluates on `split` sharded over the communicator's ranks; padded samples are not
// counted and sums are exact (int64 counts, double loss), the same on every rank.
EvalResult evaluate(model::NiN& model, const data::Split& split, const data::BatchOptions& batch,
                    dist::Communicator& comm, int64_t batch_size, const torch::Device& device);

// Picks the device for this rank ("auto": cuda:local_rank when CUDA and NCCL are built
// in and a GPU is visible, else CPU); throws InputError naming rank and host.
torch::Device select_device(const std::string& setting, const dist::Process& process);
// Intra-op threads for this rank: the config's, or the node's cores / ranks on the node.
int64_t select_threads(int64_t setting, const dist::Process& process);

// Options of one `train` invocation beyond the config.
struct RunOptions {
  std::string resume;  // "", "auto" or a checkpoint path
};

// Trains to the configured number of epochs. Returns kExitOk, or kExitPreempted after
// checkpointing when SIGTERM/SIGUSR1 arrived (all ranks agree on the step to stop at).
int train(const Config& config, const RunOptions& options, dist::Process& process);

}  // namespace nin::train
