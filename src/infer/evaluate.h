// Evaluation on a split, sharded over the ranks: loss, accuracy, confusion matrix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "data/batch.h"
#include "data/fashion_mnist.h"
#include "dist/communicator.h"
#include "dist/process.h"
#include "model/nin.h"

namespace nin::infer {

struct EvalResult {
  double loss = 0;          // mean cross-entropy over the evaluated images
  double accuracy = 0;
  int64_t count = 0;        // images evaluated, each exactly once across ranks
  torch::Tensor confusion;  // [classes, classes] int64, rows = true class
  std::vector<double> class_accuracy() const;  // per true class; 0 for a class with no images
};

// Evaluates on `split` sharded over the communicator's ranks; padded samples are not
// counted and sums are exact (int64 counts, double loss), the same on every rank.
EvalResult evaluate(model::NiN& model, const data::Split& split, const data::BatchOptions& batch,
                    dist::Communicator& comm, int64_t batch_size, const torch::Device& device);

struct LoadedModel;
// A checkpoint's model on its config's test split (from `data_dir` when not empty), on
// the CPU, sharded over the process's ranks; a stuck peer ends it after the config's
// dist.timeout_s.
EvalResult evaluate_checkpoint(LoadedModel& loaded, const std::string& data_dir, int64_t batch_size,
                               const dist::Process& process);

}  // namespace nin::infer
