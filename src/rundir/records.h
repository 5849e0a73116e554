// The run's record files, one schema each: metrics.jsonl and metrics.csv (EpochRecord, a line
// and a row per epoch), steps.jsonl (StepRecord); their one writer and their one reader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <vector>

namespace nin::rundir {

inline constexpr double kNotEvaluated = std::numeric_limits<double>::quiet_NaN();

// The global L2 norm of the averaged gradient, before clipping, over the epoch's applied
// steps (0 when none): the same on every rank, since every rank holds the same gradient.
struct GradNorms {
  double mean = 0;
  double max = 0;
};

// One epoch of a run: a line of metrics.jsonl, a row of metrics.csv (columns in field order).
struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far
  double train_loss = 0, train_acc = 0;
  // Held-out figures: NaN (null in metrics.jsonl) for a split not evaluated at this epoch.
  double val_loss = kNotEvaluated, val_acc = kNotEvaluated;    // data.val_split's images
  double test_loss = kNotEvaluated, test_acc = kNotEvaluated;  // the test set (eval.test_every)
  double lr = 0;
  double images_per_s = 0;  // training images (all ranks) per second of epoch time
  double epoch_s = 0;       // wall time of the training part of the epoch
  // Rank 0's host seconds blocked on the gradient allreduce this epoch (MPI, CPU tensors);
  // NaN (null) on a GPU, where the device waits on an event and the host times nothing.
  double comm_wait_s = 0;
  int64_t peak_mem_bytes = 0;  // the largest rank's peak so far: CUDA allocator's allocated bytes, else RSS
  double flops_per_image = 0;  // training FLOPs per image at data.resize (model/flops.h: 3 x forward)
  // flops_per_image * images_per_s / (world_size x the GPU's dense peak); NaN (null) on a CPU
  // or a GPU the peak table does not know.
  double mfu = kNotEvaluated;
  double grad_norm_mean = 0;  // the averaged gradient's global L2 norm before clipping, over applied steps
  double grad_norm_max = 0;   // the largest of those norms
  int64_t world_size = 1;
  std::vector<double> class_acc;      // test accuracy per true class, in class order; [] when not evaluated
  std::vector<double> val_class_acc;  // the same on the validation split
};

// Training figures every log.every steps of an epoch and at its last step (when the progress
// line prints them): a line of steps.jsonl.
struct StepRecord {
  double epoch = 0;  // fractional: epochs done + steps done in this one / steps per epoch
  int64_t step = 0;  // optimizer steps so far
  double train_loss = 0, train_acc = 0;  // the epoch so far, over every rank's images
  double lr = 0;     // of the last step
};

// Appends one record to metrics.jsonl and metrics.csv in `run_dir` (rank 0 only).
void append_metrics(const std::filesystem::path& run_dir, const EpochRecord& record);
// Keeps the records up to epoch `epoch` in metrics.jsonl and metrics.csv (rank 0, as a resumed
// run starts): epochs past its checkpoint are recorded again, not twice.
void trim_metrics(const std::filesystem::path& run_dir, int64_t epoch);

// Appends one record to steps.jsonl in `run_dir` (rank 0 only).
void append_step(const std::filesystem::path& run_dir, const StepRecord& record);
// Keeps the records up to global step `step` (rank 0, as a run starts): a resumed run
// records the later steps again, and a fresh one (step 0) starts an empty file.
void trim_steps(const std::filesystem::path& run_dir, int64_t step);

// The records of `run_dir`, in file order; none when the file is absent. A line that holds
// no record (cut short by a crash) is skipped; a key missing takes the field's default, null
// reads as NaN. A FIFO, a device or a file past the input cap is an InputError naming it (a
// copied run directory is someone else's bytes).
std::vector<EpochRecord> read_metrics(const std::filesystem::path& run_dir);
std::vector<StepRecord> read_steps(const std::filesystem::path& run_dir);

}  // namespace nin::rundir
