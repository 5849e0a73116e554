// Test tool: rewrites a checkpoint as a version-1 file, as nin-dist wrote them before the
// safetensors payload: a torch::serialize archive (TorchScript) under the old 28-byte header.
// Usage: legacy_checkpoint IN.nin OUT.nin
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <torch/serialize/output-archive.h>
#include <xxhash.h>

#include "format/checkpoint_file.h"
#include "checkpoint/checkpoint.h"
#include "infer/model_io.h"
#include "train/optim.h"

namespace {

// The payload as version 1 laid it out: tensors t0, t1, ... with their names in a list.
std::string legacy_payload(const nin::train::CheckpointFile& ck, const torch::nn::Module& model,
                           const torch::optim::Optimizer& optimizer) {
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
  archive.write("optimizer_name", c10::IValue(ck.optimizer));
  archive.write("config", c10::IValue(ck.config_toml));
  archive.write("world_size", c10::IValue(ck.world_size));
  const auto& s = ck.state;
  archive.write("state", c10::IValue(std::vector<int64_t>{s.epoch, s.step_in_epoch, s.global_step,
                                                         int64_t(s.sums.correct), int64_t(s.sums.seen)}));
  archive.write("loss_sum", c10::IValue(s.sums.loss_sum));
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: legacy_checkpoint IN.nin OUT.nin\n";
    return 2;
  }
  const auto ck = nin::train::read_checkpoint(argv[1]);
  const auto config = nin::train::from_toml(ck.config_toml, argv[1]);
  auto model = nin::train::make_model(config);
  auto optimizer = nin::train::make_optimizer(config, model->parameters());
  nin::train::restore(ck, *model, optimizer.get());
  const std::string payload = legacy_payload(ck, *model, *optimizer);
  // The version-1 header: magic, version, payload length, XXH64 (seed 0); no tag.
  const char magic[8] = {'N', 'I', 'N', 'C', 'K', 'P', 'T', '\0'};
  const uint32_t version = nin::format::kLegacyCheckpointVersion;
  const uint64_t length = payload.size(), checksum = XXH64(payload.data(), payload.size(), 0);
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out.write(magic, sizeof magic);
  out.write(reinterpret_cast<const char*>(&version), sizeof version);
  out.write(reinterpret_cast<const char*>(&length), sizeof length);
  out.write(reinterpret_cast<const char*>(&checksum), sizeof checksum);
  out << payload;
  return out ? 0 : 1;
}
