// The one reader of earlier checkpoints: version 1 (a TorchScript archive) and version-2 files
// of an earlier layout, brought up to date by `nin-dist upgrade`; every other path reads the
// current format alone (checkpoint.h).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>

#include "checkpoint/checkpoint.h"

namespace nin::checkpoint {

// A checkpoint of any version, parsed but not yet applied to a model.
struct OldCheckpoint {
  CheckpointFile file;  // a version-1 file's optimizer state is in `archive` instead
  std::unique_ptr<torch::serialize::InputArchive> archive;  // version 1: torch::optim's own archive
};

// Reads `path` as read_checkpoint does, and also a version-2 file of an earlier layout. A
// version-1 file (loading it can run code stored in it) is read only with `trust_legacy`
// (--trust-legacy-checkpoint): an InputError naming the file and the flag otherwise.
OldCheckpoint read_old_checkpoint(const std::filesystem::path& path, bool trust_legacy);

// Writes `old` to `out` as a current checkpoint, atomically (refusing an existing `out` with
// kRefuse): its tensors through `model` (built as its config says; the names and shapes are
// checked), its optimizer state through an optimizer of the kind it names, and `config_toml`
// as the embedded config.
void write_upgraded(const OldCheckpoint& old, torch::nn::Module& model, const std::string& config_toml,
                    const std::filesystem::path& out, format::Existing existing);

}  // namespace nin::checkpoint
