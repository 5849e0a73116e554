// The training loop: batch, forward, backward, reduce, step; one epoch after another.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "config/config.h"
#include "dist/process.h"

namespace nin::train {

// Picks the device for this rank ("auto": cuda:local_rank when CUDA and NCCL are built
// in and a GPU is visible, else CPU); throws InputError naming rank and host.
torch::Device select_device(const std::string& setting, const dist::Process& process);
// Intra-op threads for this rank: the config's, or the node's cores / ranks on the node.
int64_t select_threads(int64_t setting, const dist::Process& process);

// Options of one `train` invocation beyond the config.
struct RunOptions {
  std::string resume;  // "", "auto" or a checkpoint path
  bool overwrite = false;  // --overwrite: a start from scratch moves an earlier run's files aside
};

// Trains to the configured number of epochs. Returns kExitOk, or kExitPreempted after
// checkpointing when SIGTERM/SIGUSR1 arrived (all ranks agree on the step to stop at).
int train(const config::Config& config, const RunOptions& options, dist::Process& process);

}  // namespace nin::train
