// Replicas: the initial broadcast, and cross-rank checks through dist/agree.h.
#include "monitor/replicas.h"

#include "dist/agree.h"
#include "util/error.h"

namespace nin::monitor {

void broadcast_model(torch::nn::Module& model, dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) comm.broadcast(p.detach(), /*root=*/0);
  for (auto& b : model.buffers()) comm.broadcast(b.detach(), /*root=*/0);
}

void check_same_config(const config::Config& c, dist::Communicator& control) {
  const uint64_t h = config::config_hash(c);
  // Two 32-bit halves: each fits an int64 with its negation, as same_on_all_ranks needs.
  const auto halves = torch::tensor({static_cast<int64_t>(h >> 32), static_cast<int64_t>(h & 0xffffffffULL)},
                                    torch::kInt64);
  if (!dist::same_on_all_ranks(control, halves))
    throw InputError(c.source + ": the ranks run different configurations (config hashes differ); "
                     "give every rank the same --config and --set flags");
}

void check_replicas_sync(torch::nn::Module& model, dist::Communicator& control, int64_t step, int64_t epoch) {
  torch::NoGradGuard no_grad;
  double sum = 0, sq = 0;
  for (const auto& p : model.parameters()) {
    const auto d = p.to(torch::kCPU, torch::kDouble);
    sum += d.sum().item<double>();
    sq += d.square().sum().item<double>();
  }
  if (!dist::same_on_all_ranks(control, torch::tensor({sum, sq}, torch::kDouble)))
    throw CollectiveFault("replicas diverged at epoch " + std::to_string(epoch + 1) + ", step " +
                          std::to_string(step) + ": parameter checksums differ across ranks");
}

}  // namespace nin::monitor
