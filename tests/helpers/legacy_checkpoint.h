// A version-1 checkpoint, as nin-dist wrote them before version 2: a torch::serialize archive
// (TorchScript, what torch::jit::load reads) behind the 28-byte header. For the tests of
// --trust-legacy-checkpoint; nin-dist itself no longer writes one.
#pragma once

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/output-archive.h>
#include <xxhash.h>

#include "checkpoint/train_state.h"

namespace nin::test {

struct LegacyFields {
  std::string optimizer = "adam", config;
  int64_t world_size = 1;
  checkpoint::TrainState state;
};

// The whole file: header (magic, version 1, payload length, XXH64 seed 0) and payload, in
// which the tensors are t0, t1, ... (parameters, then buffers) with their names in a list.
inline std::string legacy_checkpoint(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer,
                                     const LegacyFields& f) {
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
  archive.write("optimizer_name", c10::IValue(f.optimizer));
  archive.write("config", c10::IValue(f.config));
  archive.write("world_size", c10::IValue(f.world_size));
  const auto& s = f.state;
  archive.write("state", c10::IValue(std::vector<int64_t>{s.epoch, s.step_in_epoch, s.global_step,
                                                         int64_t(s.sums.correct), int64_t(s.sums.seen)}));
  archive.write("loss_sum", c10::IValue(s.sums.loss_sum));
  std::ostringstream out;
  archive.save_to(out);
  const std::string payload = out.str();
  std::string header(28, '\0');
  const uint32_t version = 1;
  const uint64_t length = payload.size(), sum = XXH64(payload.data(), payload.size(), 0);
  std::memcpy(header.data(), "NINCKPT", 8);
  std::memcpy(header.data() + 8, &version, 4);
  std::memcpy(header.data() + 12, &length, 8);
  std::memcpy(header.data() + 20, &sum, 8);
  return header + payload;
}

}  // namespace nin::test
