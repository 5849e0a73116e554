// Keeping replicas identical: the initial broadcast and the cross-rank checks.
#pragma once

#include <cstdint>

#include <torch/nn/module.h>

#include "config/config.h"
#include "dist/communicator.h"

namespace nin::monitor {

// Rank 0's parameters and buffers to every rank.
void broadcast_model(torch::nn::Module& model, dist::Communicator& comm);
// Every rank must run the same config: compares hashes; InputError when they differ.
void check_same_config(const config::Config& c, dist::Communicator& control);
// Compares a parameter checksum across ranks; CollectiveFault on a mismatch.
void check_replicas_sync(torch::nn::Module& model, dist::Communicator& control, int64_t step, int64_t epoch);

}  // namespace nin::monitor
