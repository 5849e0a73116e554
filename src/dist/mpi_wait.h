// Set-up collectives with a deadline: a non-blocking MPI call completed by polling, like every other collective.
#pragma once

#include <mpi.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "dist/mpi_check.h"
#include "dist/where.h"
#include "util/error.h"

namespace nin::dist {

// Waits for `request` (an MPI_Ibcast, MPI_Comm_idup, ...) for at most `timeout`; then
// CollectiveTimeout naming `what`, the rank and the host. An unfinished request cannot be
// cancelled, so `keep_alive` (what MPI may still write to) is leaked then, not freed.
inline void wait_within(MPI_Request& request, std::chrono::milliseconds timeout, const std::string& what,
                        std::shared_ptr<void> keep_alive = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int done = 0;
    NIN_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // Open MPI progresses inside MPI_Test only
  }
  if (keep_alive) static_cast<void>(new std::shared_ptr<void>(std::move(keep_alive)));  // intentional leak
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::ostringstream out;
  out << what << " did not complete within " << timeout.count() / 1000.0 << " s on " << rank_on_host(rank)
      << ": a peer rank died or never started (dist.timeout_s)";
  throw CollectiveTimeout(out.str());
}

}  // namespace nin::dist
