// The run's configuration: a TOML file plus --set overrides, validated into one struct.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nin::train {

struct Config {
  // [model]
  int64_t in_channels = 1;
  int64_t num_classes = 10;
  double dropout = 0.5;  // probability, before the last NiN block
  // [data]
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t resize = 224;       // pixels, square
  int64_t train_limit = 0;    // first N training images; 0 = all 60,000
  int64_t test_limit = 0;     // first N test images; 0 = all 10,000
  bool normalize = false;     // subtract the train-set mean, divide by its std
  // [train]
  int64_t epochs = 10;
  int64_t batch_size = 128;   // global: split evenly over the ranks
  int64_t accumulate = 1;     // micro-batches per optimizer step (gradient accumulation)
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.05;
  double momentum = 0.0;      // sgd only
  double weight_decay = 0.0;
  std::string lr_scaling = "none";  // none | linear (Goyal et al.: lr * batch / base_batch)
  int64_t base_batch_size = 128;    // the batch `lr` was tuned for, for lr_scaling
  double warmup_epochs = 0.0;       // linear warm-up from lr/10 over this many epochs
  std::string lr_decay = "none";    // none | cosine (to 0 at the last step)
  uint64_t seed = 42;         // init, shuffling and dropout
  int64_t threads = 0;        // intra-op threads per rank; 0 = node cores / ranks on node
  std::string device = "auto";      // auto | cpu | cuda
  std::string precision = "fp32";   // fp32 | bf16 (CUDA autocast)
  int64_t stall_steps = 300;  // warn when the loss sits at ln(num_classes) this long; 0 = off
  // [dist]
  double bucket_mb = 25.0;        // gradient bucket cap, MiB
  double first_bucket_mb = 1.0;   // first bucket, small so communication starts early
  double timeout_s = 300.0;       // a collective slower than this ends the job
  int64_t check_every = 0;        // compare parameter checksums across ranks; 0 = off
  std::string on_nonfinite = "stop";  // stop | skip: a NaN/Inf loss or gradient
  // [checkpoint]
  int64_t checkpoint_every = 1;   // epochs between checkpoints (and always at the end)
  int64_t checkpoint_keep = 3;    // newest checkpoints kept in the run directory
  // [log]
  int64_t log_every = 20;         // steps between progress lines when not on a terminal
  bool quiet = false;             // only the epoch summaries
  // [run]
  std::string run_dir = "runs/default";

  std::string source = "<defaults>";  // the file it came from, for messages
};

// One entry of the config reference.
struct FieldInfo {
  std::string key;    // dotted: "train.lr"
  std::string value;  // default, as TOML
  std::string doc;
};

// Reads `path` (TOML) over the defaults, then applies `overrides` ("train.lr=0.1").
// Unknown keys, wrong types, syntax errors and out-of-range values throw InputError
// naming the file (or --set), the key, the line and the value.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Applies one "key=value" override; value is TOML (bare words are taken as strings).
void apply_override(Config& config, const std::string& assignment);
// Range and consistency checks; world_size checks the batch split over ranks.
void validate(const Config& config, int world_size);

std::string to_toml(const Config& config);  // canonical form: every key, fixed order
Config from_toml(const std::string& text, const std::string& source);
uint64_t config_hash(const Config& config);  // XXH64 of to_toml: ranks must agree
std::vector<FieldInfo> config_reference();

}  // namespace nin::train
