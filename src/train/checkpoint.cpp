#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <torch/serialize/output-archive.h>

#include "format/checkpoint_file.h"
#include "train/interop.h"
#include "util/error.h"

namespace nin::train {
namespace fs = std::filesystem;
namespace {

// File names: ckpt-step0000001234.nin.
const std::string kPrefix = "ckpt-step";
const std::string kSuffix = ".nin";

std::string serialize(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                      const std::string& optimizer_name, const TrainState& s,
                      const std::string& config_toml, int64_t world_size) {
  // Tensors go in as t0, t1, ... with their dotted names in a list: archive keys are
  // attribute names, which may not hold dots.
  torch::serialize::OutputArchive archive;
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters()) {
    archive.write("t" + std::to_string(names.size()), p.value().detach());
    names.push_back(p.key());
  }
  for (const auto& b : model.named_buffers()) {
    archive.write("t" + std::to_string(names.size()), b.value().detach(), /*is_buffer=*/true);
    names.push_back(b.key());
  }
  archive.write("names", c10::IValue(names));
  torch::serialize::OutputArchive opt_archive;
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("optimizer_name", c10::IValue(optimizer_name));
  archive.write("config", c10::IValue(config_toml));
  archive.write("world_size", c10::IValue(world_size));
  archive.write("state", c10::IValue(std::vector<int64_t>{s.epoch, s.step_in_epoch, s.global_step,
                                                         s.correct, s.seen}));
  archive.write("loss_sum", c10::IValue(s.loss_sum));
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

template <typename T>
T read_ivalue(torch::serialize::InputArchive& a, const std::string& key) {
  c10::IValue v;
  a.read(key, v);
  return v.to<T>();
}

}  // namespace

std::string checkpoint_name(int64_t global_step) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%010lld", static_cast<long long>(global_step));
  return kPrefix + digits + kSuffix;
}

void write_checkpoint(const fs::path& path, const torch::nn::Module& model,
                      const torch::optim::Optimizer& optimizer, const std::string& optimizer_name,
                      const TrainState& state, const std::string& config_toml, int64_t world_size) {
  format::write_checkpoint_file(path, serialize(model, optimizer, optimizer_name, state, config_toml, world_size));
}

CheckpointFile read_checkpoint(const fs::path& path) {
  const std::string name = path.string();
  const std::string payload = format::read_checkpoint_file(path);  // verified
  CheckpointFile file;
  file.path = path;
  file.archive = std::make_unique<torch::serialize::InputArchive>();
  try {
    std::istringstream stream(payload);
    file.archive->load_from(stream, torch::Device(torch::kCPU));  // GPU-written files load anywhere
    file.names = read_ivalue<std::vector<std::string>>(*file.archive, "names");
    file.config_toml = read_ivalue<std::string>(*file.archive, "config");
    file.optimizer = read_ivalue<std::string>(*file.archive, "optimizer_name");
    file.world_size = read_ivalue<int64_t>(*file.archive, "world_size");
    const auto s = read_ivalue<std::vector<int64_t>>(*file.archive, "state");
    if (s.size() != 5) throw std::runtime_error("state has " + std::to_string(s.size()) + " fields");
    file.state = {s[0], s[1], s[2], read_ivalue<double>(*file.archive, "loss_sum"), s[3], s[4]};
  } catch (const c10::Error& e) {
    throw InputError(name + ": unreadable checkpoint payload: " + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw InputError(name + ": unreadable checkpoint payload: " + e.what());
  }
  return file;
}

void restore(const CheckpointFile& file, torch::nn::Module& model, torch::optim::Optimizer* optimizer) {
  const std::string name = file.path.string();
  assign_state_dict(model, checkpoint_tensors(file), name);
  if (optimizer) {
    try {
      torch::serialize::InputArchive opt_archive;
      file.archive->read("optimizer", opt_archive);
      optimizer->load(opt_archive);
    } catch (const c10::Error& e) {
      throw InputError(name + ": optimizer state does not fit the configured optimizer (" + file.optimizer +
                       " in the checkpoint): " + e.what_without_backtrace());
    }
  }
}

std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors(const CheckpointFile& file) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < file.names.size(); ++i) {
    torch::Tensor t;
    if (!file.archive->try_read("t" + std::to_string(i), t) && !file.archive->try_read("t" + std::to_string(i), t, true))
      throw InputError(file.path.string() + ": checkpoint lacks tensor " + std::to_string(i) + " ('" + file.names[i] + "')");
    out.emplace_back(file.names[i], t);
  }
  return out;
}

std::vector<fs::path> list_checkpoints(const fs::path& run_dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string n = entry.path().filename().string();
    if (n.rfind(kPrefix, 0) == 0 && n.size() > kSuffix.size() &&
        n.compare(n.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0)
      found.push_back(entry.path());
  }
  std::sort(found.rbegin(), found.rend());  // zero-padded step: lexical order is step order
  return found;
}

std::unique_ptr<CheckpointFile> newest_valid_checkpoint(const fs::path& run_dir,
                                                        std::vector<std::string>& warnings) {
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
  const auto all = list_checkpoints(run_dir);
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i], ec);
  }
}

}  // namespace nin::train
