// Checkpoints: atomic, checksummed files that rank 0 writes and every rank resumes from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "checkpoint/train_state.h"
#include "format/atomic_file.h"
#include "format/checkpoint_file.h"

namespace nin::checkpoint {

// A verified checkpoint file, parsed but not yet applied to a model.
struct CheckpointFile {
  std::filesystem::path path;
  TrainState state;
  std::string config_toml;  // the config of the run that wrote it
  int64_t world_size = 1;   // ranks that wrote it; any number may resume
  std::string optimizer;    // "sgd", "adam" or "adamw"
  std::vector<std::string> names;  // parameters, then buffers, as in the model
  uint64_t checksum = 0;           // XXH64 of the payload: ranks compare it to agree on one file
  std::vector<torch::Tensor> tensors;                     // `names`' tensors, in that order
  std::map<std::string, torch::Tensor> optimizer_state;  // checkpoint/optim_state.h's entries
};

// Writes `path` atomically: a temporary file beside it, fsync, rename (or, with kRefuse,
// a link that fails when `path` exists), fsync of the folder. On any failure the temporary
// file is removed, older checkpoints are untouched, and std::runtime_error names the path
// and the system's reason.
void write_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model,
                      const torch::optim::Optimizer& optimizer, const std::string& optimizer_name,
                      const TrainState& state, const std::string& config_toml, int64_t world_size,
                      format::Existing existing = format::Existing::kReplace);

// Reads and verifies a checkpoint (magic, version, length, XXH64 checksum, HMAC tag: the
// file layout is format/checkpoint_file.h; the payload, format/safetensors.h). A missing,
// truncated or corrupt file is an InputError naming the path and the defect; so is a file of
// an earlier version or layout, with the command that brings it up to date (`nin-dist upgrade`,
// checkpoint/upgrade.h: the one reader of earlier checkpoints).
CheckpointFile read_checkpoint(const std::filesystem::path& path);
// The same for a payload already read from `path` (format::read_checkpoint_file).
CheckpointFile parse_checkpoint(const std::filesystem::path& path, const format::CheckpointPayload& payload);
// What a refusal of an earlier checkpoint at `path` says to do: the upgrade command with `flags`.
std::string upgrade_hint(const std::filesystem::path& path, const std::string& flags);

// Copies the checkpoint's parameters and buffers into `model` after checking every name
// and shape (InputError on a mismatch, with the model left unchanged), and the optimizer
// state into `optimizer` when given (checked likewise, after the model was copied).
void restore(const CheckpointFile& file, torch::nn::Module& model, torch::optim::Optimizer* optimizer);

// Named tensors of a checkpoint (parameters and buffers), for export.
std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors(const CheckpointFile& file);

// Files named exactly as rundir::checkpoint_name() names them, newest first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);
// The newest checkpoint in `run_dir` that verifies; corrupt newer ones are reported on
// `warnings` and skipped. Null when the folder has none.
std::unique_ptr<CheckpointFile> newest_valid_checkpoint(const std::filesystem::path& run_dir,
                                                        std::vector<std::string>& warnings);
// Keeps the `keep` newest checkpoints that verify, and deletes those older than them;
// files that do not verify are neither counted nor deleted.
void prune_checkpoints(const std::filesystem::path& run_dir, int64_t keep);

}  // namespace nin::checkpoint
