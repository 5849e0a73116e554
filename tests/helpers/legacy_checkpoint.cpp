// Test tool: rewrites a checkpoint as a version-1 file (tests/helpers/legacy_checkpoint.h).
// Usage: legacy_checkpoint IN.nin OUT.nin
#include <fstream>
#include <iostream>

#include "checkpoint/checkpoint.h"
#include "infer/model_io.h"
#include "legacy_checkpoint.h"
#include "train/optim.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: legacy_checkpoint IN.nin OUT.nin\n";
    return 2;
  }
  const auto ck = nin::checkpoint::read_checkpoint(argv[1]);
  const auto config = nin::config::from_toml(ck.config_toml, argv[1]);
  auto model = nin::infer::make_model(config);
  auto optimizer = nin::train::make_optimizer(config, model->parameters());
  nin::checkpoint::restore(ck, *model, optimizer.get());
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out << nin::test::legacy_checkpoint(*model, *optimizer, {ck.optimizer, ck.config_toml, ck.world_size, ck.state});
  return out ? 0 : 1;
}
