// NIN_FAULT parsing and the injected faults.
#include "monitor/fault.h"

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "util/error.h"

namespace nin::monitor {

Fault Fault::from_env() {
  Fault f;
  const char* spec = std::getenv("NIN_FAULT");
  if (!spec) return f;
  std::istringstream in(spec);
  std::string step, rank;
  if (!std::getline(in, f.kind_, ':') || !std::getline(in, step, ':') || !std::getline(in, rank))
    throw InputError(std::string("NIN_FAULT=") + spec + ": expected KIND:STEP:RANK");
  f.step_ = std::stoll(step);
  f.rank_ = std::stoi(rank);
  return f;
}

torch::Tensor Fault::poison(const torch::Tensor& loss, int64_t step, int rank) const {
  return at("nan", step, rank) ? loss * std::nan("") : loss;
}

void Fault::perturb(torch::nn::Module& model, int64_t step, int rank) const {
  if (!at("perturb", step, rank)) return;
  torch::NoGradGuard no_grad;
  model.parameters().front().add_(1e-3);
}

void Fault::crash(int64_t step, int rank) const {
  if (at("kill", step, rank)) std::raise(SIGKILL);
  if (at("exit", step, rank)) std::_Exit(1);  // no destructors, no MPI_Finalize: the peers learn nothing
}

void Fault::stall(int64_t step, int rank, dist::Communicator& comm) const {
  if (!at("stall", step, rank)) return;
  if (comm.stall_stream()) return;  // CUDA: the watchdog times the collective out, then ends the run
  if (comm.size() == 1) throw InputError("NIN_FAULT=stall on one CPU rank: no collective to stall; use 2+ ranks");
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // the peers' allreduce times out
}

}  // namespace nin::monitor
