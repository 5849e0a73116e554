#include "checkpoint/checkpoint.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "checkpoint/interop.h"
#include "checkpoint/optim_state.h"
#include "format/safetensors.h"
#include "rundir/paths.h"
#include "util/error.h"

namespace nin::checkpoint {

// TrainState's fields, each stored under its own name in the "train_state" metadata, the
// epoch's sums as an object under "sums" (files of an earlier layout, which hold them beside
// the other fields, are read by checkpoint/upgrade.cpp alone).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochSums, loss_sum, correct, seen)

void to_json(nlohmann::json& j, const TrainState& s) {
  j = {{"epoch", s.epoch}, {"step_in_epoch", s.step_in_epoch}, {"global_step", s.global_step}, {"sums", s.sums},
       {"best_val_acc", s.best_val_acc}};
}

void from_json(const nlohmann::json& j, TrainState& s) {
  const TrainState fresh;
  s.epoch = j.value("epoch", fresh.epoch);
  s.step_in_epoch = j.value("step_in_epoch", fresh.step_in_epoch);
  s.global_step = j.value("global_step", fresh.global_step);
  s.best_val_acc = j.value("best_val_acc", fresh.best_val_acc);
  s.sums = j.at("sums").get<EpochSums>();
}

namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "nin-dist checkpoint";  // the "format" metadata: what the file is

std::string serialize(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                      const std::string& optimizer_name, const TrainState& s, const std::string& config_toml,
                      int64_t world_size) {
  format::NamedTensors tensors;
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters()) tensors.emplace_back(p.key(), p.value()), names.push_back(p.key());
  for (const auto& b : model.named_buffers()) tensors.emplace_back(b.key(), b.value()), names.push_back(b.key());
  for (auto& entry : optimizer_state(optimizer)) tensors.push_back(std::move(entry));
  const format::Metadata metadata = {{"format", kFormat},
                                     {"train_state", nlohmann::json(s).dump()},
                                     {"optimizer", optimizer_name},
                                     {"world_size", std::to_string(world_size)},
                                     {"config", config_toml},
                                     {"names", nlohmann::json(names).dump()}};
  return format::encode_safetensors(tensors, metadata);
}

// A safetensors payload into `file`: every name and value checked, nothing executed.
void parse(const std::string& payload, CheckpointFile& file) {
  const std::string name = file.path.string();
  auto decoded = format::decode_safetensors(payload, name);
  auto meta = [&](const std::string& key) -> const std::string& {
    const auto it = decoded.metadata.find(key);
    if (it == decoded.metadata.end()) throw InputError(name + ": checkpoint metadata lacks '" + key + "'");
    return it->second;
  };
  if (meta("format") != kFormat) throw InputError(name + ": not a nin-dist checkpoint payload");
  try {
    const auto state = nlohmann::json::parse(meta("train_state"));
    if (state.is_object() && !state.contains("sums"))
      throw InputError(name + ": a checkpoint of an earlier layout (the epoch's sums beside the other fields); " +
                       upgrade_hint(file.path, ""));
    file.state = state.get<TrainState>();
    file.names = nlohmann::json::parse(meta("names")).get<std::vector<std::string>>();
    file.world_size = std::stoll(meta("world_size"));
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {  // nlohmann's errors and std::stoll's
    throw InputError(name + ": unreadable checkpoint metadata: " + e.what());
  }
  file.optimizer = meta("optimizer");
  file.config_toml = meta("config");
  std::map<std::string, torch::Tensor> model;
  for (auto& [key, t] : decoded.tensors)
    (key.rfind(kOptimPrefix, 0) == 0 ? file.optimizer_state : model)[key] = std::move(t);
  for (const auto& n : file.names) {
    const auto it = model.find(n);
    if (it == model.end()) throw InputError(name + ": checkpoint lacks tensor '" + n + "'");
    file.tensors.push_back(it->second);
  }
  if (model.size() != file.names.size())
    throw InputError(name + ": checkpoint holds tensors that its list of names does not");
}

}  // namespace

void write_checkpoint(const fs::path& path, const torch::nn::Module& model,
                      const torch::optim::Optimizer& optimizer, const std::string& optimizer_name,
                      const TrainState& state, const std::string& config_toml, int64_t world_size,
                      format::Existing existing) {
  format::write_checkpoint_file(path, serialize(model, optimizer, optimizer_name, state, config_toml, world_size),
                                existing);
}

std::string upgrade_hint(const fs::path& path, const std::string& flags) {
  return "bring it up to date with `nin-dist upgrade " + path.string() + " NEW.nin" + flags + "`, then use NEW.nin";
}

CheckpointFile parse_checkpoint(const fs::path& path, const format::CheckpointPayload& payload) {
  if (payload.version != format::kCheckpointVersion)
    throw InputError(path.string() + ": a version-" + std::to_string(payload.version) +
                     " checkpoint, a TorchScript archive whose loading can run code stored in the file; refused "
                     "here. If you wrote it yourself, " + upgrade_hint(path, " --trust-legacy-checkpoint"));
  CheckpointFile file;
  file.path = path;
  file.checksum = payload.checksum;
  parse(payload.bytes, file);
  return file;
}

CheckpointFile read_checkpoint(const fs::path& path) {
  return parse_checkpoint(path, format::read_checkpoint_file(path));  // verified
}

void restore(const CheckpointFile& file, torch::nn::Module& model, torch::optim::Optimizer* optimizer) {
  const std::string name = file.path.string();
  assign_state_dict(model, checkpoint_tensors(file), name);  // first: its message names the layer and the key
  if (optimizer) load_optimizer_state(*optimizer, file.optimizer_state, name);
}

std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors(const CheckpointFile& file) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < file.names.size(); ++i) out.emplace_back(file.names[i], file.tensors.at(i));
  return out;
}

std::vector<fs::path> list_checkpoints(const fs::path& run_dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec))
    if (rundir::checkpoint_step(entry.path().filename().string())) found.push_back(entry.path());
  std::sort(found.rbegin(), found.rend());  // zero-padded step: lexical order is step order
  return found;
}

std::unique_ptr<CheckpointFile> newest_valid_checkpoint(const fs::path& run_dir, std::vector<std::string>& warnings) {
  for (const auto& path : list_checkpoints(run_dir)) {
    try {
      return std::make_unique<CheckpointFile>(read_checkpoint(path));
    } catch (const InputError& e) {
      warnings.push_back(std::string(e.what()) + "; falling back to the previous checkpoint");
    }
  }
  return nullptr;
}

void prune_checkpoints(const fs::path& run_dir, int64_t keep) {
  int64_t verified = 0;
  for (const auto& path : list_checkpoints(run_dir)) {
    if (verified >= keep) {
      std::error_code ec;
      fs::remove(path, ec);
      continue;
    }
    try {
      format::read_checkpoint_file(path);
      ++verified;
    } catch (const InputError&) {  // not counted: a corrupt file keeps no older one alive
    }
  }
}

}  // namespace nin::checkpoint
