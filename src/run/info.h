// The run's facts that no epoch record holds: run.json (build, ranks, hosts, devices) and confusion.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <torch/types.h>

#include "dist/communicator.h"

namespace nin::run {

// What this binary was built with, as `nin-dist --version` prints it.
struct BuildInfo {
  std::string version;   // nin-dist's
  std::string libtorch;  // "2.1.2"
  std::string cuda;      // "available" or "not available" (a GPU seen by LibTorch)
  std::string nccl;      // "built in" or "not built in"
  std::string mpi;       // the MPI library's own version line
};
BuildInfo build_info();

// Every rank's host and device, gathered (a collective on `control`: every rank calls it),
// then written by rank 0 with the build, the node count and the start time into
// RUN_DIR/run.json (atomically; a resumed run's session replaces the last one's).
void write_run_json(const std::filesystem::path& run_dir, dist::Communicator& control, const std::string& host,
                    const std::string& device, int64_t num_nodes);

// RUN_DIR/confusion.json: the [classes, classes] int64 matrix (rows = true class) of the
// `split` ("test" or "val") evaluated after `epoch`, with the class names (rank 0).
void write_confusion(const std::filesystem::path& run_dir, int64_t epoch, const std::string& split,
                     const torch::Tensor& confusion);

}  // namespace nin::run
