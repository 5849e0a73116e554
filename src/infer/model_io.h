// Models from configs and checkpoints, and prediction: what the front end needs of a model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "data/augment.h"
#include "data/batch.h"
#include "model/nin.h"

namespace nin::infer {

// The NiN a config describes, freshly initialised (from the current torch seed).
model::NiN make_model(const config::Config& config);
// How a config says images become a batch, for training and inference alike.
data::BatchOptions batch_options(const config::Config& config);
// The augmentation a config asks for, applied to training batches only.
data::AugmentOptions augment_options(const config::Config& config);

// A checkpoint's model in eval mode, with the config embedded in the checkpoint (validated
// before anything is built).
struct LoadedModel {
  model::NiN model{nullptr};
  config::Config config;
  std::string path;
  checkpoint::TrainState state;
};
LoadedModel load_model(const std::string& checkpoint);

// Writes a checkpoint at step 0 (fresh SGD state) of `config`'s model with the weights of
// a torch.save'd state dict; InputError naming the file or key that does not fit.
void import_state_dict(const std::string& state_dict, const config::Config& config, const std::string& checkpoint);

// `nin-dist upgrade`: writes the checkpoint `old` (version 1 only with `trust_legacy`, or a
// version-2 file of an earlier layout) to `out` in the current format, atomically, with its
// embedded config without retired keys (checked as load_model checks it). The model, its
// optimizer state, the train state and the world size carry over unchanged.
void upgrade_checkpoint(const std::string& old, const std::string& out, bool trust_legacy,
                        format::Existing existing);

struct Prediction {
  int64_t label = 0;         // the most probable class
  double probability = 0;    // its softmax probability
  torch::Tensor logits;      // [classes] double
};
// Classifies [N, H, W] uint8 images, preprocessed as the model was trained.
std::vector<Prediction> predict(LoadedModel& loaded, const torch::Tensor& images);

}  // namespace nin::infer
