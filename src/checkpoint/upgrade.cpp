#include "checkpoint/upgrade.h"

#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "checkpoint/interop.h"
#include "checkpoint/optim_state.h"
#include "format/safetensors.h"
#include "util/error.h"

namespace nin::checkpoint {
namespace fs = std::filesystem;
namespace {

template <typename T>
T read_ivalue(torch::serialize::InputArchive& a, const std::string& key) {
  c10::IValue v;
  a.read(key, v);
  return v.to<T>();
}

// A version-1 payload: a torch::serialize archive, which torch::jit::load reads.
OldCheckpoint parse_version1(const fs::path& path, const format::CheckpointPayload& payload) {
  const std::string name = path.string();
  OldCheckpoint old;
  CheckpointFile& file = old.file;
  file.path = path;
  file.checksum = payload.checksum;
  old.archive = std::make_unique<torch::serialize::InputArchive>();
  try {
    std::istringstream stream(payload.bytes);
    old.archive->load_from(stream, torch::Device(torch::kCPU));  // GPU-written files load anywhere
    file.names = read_ivalue<std::vector<std::string>>(*old.archive, "names");
    file.config_toml = read_ivalue<std::string>(*old.archive, "config");
    file.optimizer = read_ivalue<std::string>(*old.archive, "optimizer_name");
    file.world_size = read_ivalue<int64_t>(*old.archive, "world_size");
    const auto s = read_ivalue<std::vector<int64_t>>(*old.archive, "state");
    if (s.size() != 5) throw std::runtime_error("state has " + std::to_string(s.size()) + " fields");
    file.state = {s[0], s[1], s[2], {read_ivalue<double>(*old.archive, "loss_sum"), double(s[3]), double(s[4])}};
    for (size_t i = 0; i < file.names.size(); ++i) {
      torch::Tensor t;
      if (!old.archive->try_read("t" + std::to_string(i), t) && !old.archive->try_read("t" + std::to_string(i), t, true))
        throw std::runtime_error("lacks tensor " + std::to_string(i) + " ('" + file.names[i] + "')");
      file.tensors.push_back(t);
    }
  } catch (const c10::Error& e) {
    throw InputError(name + ": unreadable checkpoint payload: " + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw InputError(name + ": unreadable checkpoint payload: " + e.what());
  }
  return old;
}

// A version-2 payload of an earlier layout in the current one: the epoch's sums, once kept
// beside the other train_state fields (counts as integers), moved under "sums".
void to_current_layout(const fs::path& path, format::CheckpointPayload& payload) {
  auto decoded = format::decode_safetensors(payload.bytes, path.string());
  const auto it = decoded.metadata.find("train_state");
  if (it == decoded.metadata.end()) return;  // parse_checkpoint names what is missing
  auto state = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object() || state.contains("sums")) return;
  nlohmann::json sums = nlohmann::json::object();
  for (const char* key : {"loss_sum", "correct", "seen"}) {
    if (!state.contains(key)) continue;
    sums[key] = state.at(key);  // from_json reads an integer count as a double
    state.erase(key);
  }
  state["sums"] = sums;
  it->second = state.dump();
  payload.bytes = format::encode_safetensors(decoded.tensors, decoded.metadata);
}

// An optimizer of the kind a checkpoint names over `params`; its options do not matter: only
// its state is restored and written.
std::unique_ptr<torch::optim::Optimizer> optimizer_named(const std::string& name, const std::string& source,
                                                         const std::vector<torch::Tensor>& params) {
  using namespace torch::optim;
  if (name == "sgd") return std::make_unique<SGD>(params, SGDOptions(/*lr=*/0.1).momentum(0.9));
  if (name == "adam") return std::make_unique<Adam>(params);
  if (name == "adamw") return std::make_unique<AdamW>(params);
  throw InputError(source + ": names optimizer '" + name + "', expected sgd, adam or adamw");
}

}  // namespace

OldCheckpoint read_old_checkpoint(const fs::path& path, bool trust_legacy) {
  auto payload = format::read_checkpoint_file(path);  // verified
  if (payload.version == format::kLegacyCheckpointVersion) {
    if (!trust_legacy)
      throw InputError(path.string() + ": a version-1 checkpoint, a TorchScript archive whose loading can run code "
                       "stored in the file; refused. If you wrote it yourself, give --trust-legacy-checkpoint");
    return parse_version1(path, payload);
  }
  to_current_layout(path, payload);
  OldCheckpoint old;
  old.file = parse_checkpoint(path, payload);
  return old;
}

void write_upgraded(const OldCheckpoint& old, torch::nn::Module& model, const std::string& config_toml,
                    const fs::path& out, format::Existing existing) {
  const CheckpointFile& file = old.file;
  const std::string name = file.path.string();
  assign_state_dict(model, checkpoint_tensors(file), name);
  auto optimizer = optimizer_named(file.optimizer, name, model.parameters());
  if (!old.archive) {
    load_optimizer_state(*optimizer, file.optimizer_state, name);
  } else {
    try {
      torch::serialize::InputArchive opt_archive;
      old.archive->read("optimizer", opt_archive);
      optimizer->load(opt_archive);
    } catch (const c10::Error& e) {
      throw InputError(name + ": optimizer state does not fit its optimizer (" + file.optimizer +
                       "): " + e.what_without_backtrace());
    }
  }
  write_checkpoint(out, model, *optimizer, file.optimizer, file.state, config_toml, file.world_size, existing);
}

}  // namespace nin::checkpoint
