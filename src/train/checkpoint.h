// Checkpoints: atomic, checksummed files that rank 0 writes and every rank resumes from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>

namespace nin::train {

// Where training stands; a checkpoint taken mid-epoch (preemption) resumes mid-epoch.
struct TrainState {
  int64_t epoch = 0;          // completed epochs
  int64_t step_in_epoch = 0;  // optimizer steps done in the current epoch
  int64_t global_step = 0;    // optimizer steps since the start
  double loss_sum = 0.0;      // current epoch so far, summed over all ranks' samples
  int64_t correct = 0;
  int64_t seen = 0;
};

// A verified checkpoint file, parsed but not yet applied to a model.
struct CheckpointFile {
  std::filesystem::path path;
  TrainState state;
  std::string config_toml;  // the config of the run that wrote it
  int64_t world_size = 1;   // ranks that wrote it; any number may resume
  std::string optimizer;    // "sgd", "adam" or "adamw"
  std::vector<std::string> names;  // parameters, then buffers, as in the model
  std::unique_ptr<torch::serialize::InputArchive> archive;
};

// Writes `path` atomically: a temporary file beside it, fsync, rename, fsync of the
// folder. On any failure the temporary file is removed, older checkpoints are untouched,
// and std::runtime_error names the path and the system's reason.
void write_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model,
                      const torch::optim::Optimizer& optimizer, const std::string& optimizer_name,
                      const TrainState& state, const std::string& config_toml, int64_t world_size);

// Reads and verifies a checkpoint (magic, version, length, XXH64 checksum: the file layout
// is format/checkpoint_file.h). A missing, truncated or corrupt file is an InputError
// naming the path and the defect.
CheckpointFile read_checkpoint(const std::filesystem::path& path);

// Copies the checkpoint's parameters and buffers into `model` after checking every name
// and shape (InputError on a mismatch, with the model left unchanged), and the optimizer
// state into `optimizer` when given.
void restore(const CheckpointFile& file, torch::nn::Module& model, torch::optim::Optimizer* optimizer);

// Named tensors of a checkpoint (parameters and buffers), for export.
std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors(const CheckpointFile& file);

std::string checkpoint_name(int64_t global_step);  // sorts by step
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);  // newest first
// The newest checkpoint in `run_dir` that verifies; corrupt newer ones are reported on
// `warnings` and skipped. Empty optional when the folder has none.
std::unique_ptr<CheckpointFile> newest_valid_checkpoint(const std::filesystem::path& run_dir,
                                                        std::vector<std::string>& warnings);
// Deletes all but the `keep` newest checkpoints.
void prune_checkpoints(const std::filesystem::path& run_dir, int64_t keep);

}  // namespace nin::train
