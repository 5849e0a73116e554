// Models from configs and checkpoints; prediction with the training's preprocessing.
#include "infer/model_io.h"

#include <torch/optim/sgd.h>

#include "checkpoint/interop.h"
#include "checkpoint/upgrade.h"

namespace nin::infer {

model::NiN make_model(const config::Config& config) {
  return model::NiN(model::NiNOptions{config.in_channels, config.num_classes, config.dropout, config.class_bias});
}

data::BatchOptions batch_options(const config::Config& config) {
  return data::BatchOptions{config.resize, config.normalize};
}

data::AugmentOptions augment_options(const config::Config& config) {
  return data::AugmentOptions{config.crop_padding, config.flip};
}

LoadedModel load_model(const std::string& checkpoint) {
  const auto ck = checkpoint::read_checkpoint(checkpoint);
  LoadedModel loaded;
  loaded.config = config::from_toml(ck.config_toml, ck.path.string() + " (embedded config)");
  config::validate(loaded.config, 1);  // before the model is built: its sizes come from the file
  loaded.model = make_model(loaded.config);
  checkpoint::restore(ck, *loaded.model, nullptr);
  loaded.model->eval();
  loaded.path = ck.path.string();
  loaded.state = ck.state;
  return loaded;
}

void import_state_dict(const std::string& state_dict, const config::Config& config, const std::string& checkpoint) {
  auto model = make_model(config);
  checkpoint::assign_state_dict(*model, format::load_state_dict(state_dict), state_dict);
  torch::optim::SGD fresh(model->parameters(), torch::optim::SGDOptions(config.lr));
  checkpoint::write_checkpoint(checkpoint, *model, fresh, "sgd", checkpoint::TrainState{}, config::to_toml(config), 1,
                               format::Existing::kRefuse);
}

void upgrade_checkpoint(const std::string& old, const std::string& out, bool trust_legacy,
                        format::Existing existing) {
  const auto ck = checkpoint::read_old_checkpoint(old, trust_legacy);
  const std::string source = old + " (embedded config)";
  const auto config = config::from_toml(config::without_retired_keys(ck.file.config_toml, source), source);
  config::validate(config, 1);  // before the model is built: its sizes come from the file
  auto model = make_model(config);
  checkpoint::write_upgraded(ck, *model, config::to_toml(config), out, existing);
}

std::vector<Prediction> predict(LoadedModel& loaded, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const auto options = batch_options(loaded.config);
  std::vector<Prediction> out;
  for (int64_t i = 0; i < images.size(0); ++i) {  // one at a time: as predict has always batched
    const auto x = data::to_network_input(images[i].unsqueeze(0), options);
    Prediction p;
    p.logits = loaded.model->forward(x)[0].to(torch::kFloat64);
    const auto probs = torch::softmax(p.logits, 0);
    p.label = probs.argmax().item<int64_t>();
    p.probability = probs[p.label].item<double>();
    out.push_back(p);
  }
  return out;
}

}  // namespace nin::infer
