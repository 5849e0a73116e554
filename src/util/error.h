// Error policy: typed exceptions inside, one message and one exit code at the top (src/app/main.cpp).
#pragma once

#include <stdexcept>
#include <string>

namespace nin {

// Exit codes of the nin-dist binary.
enum ExitCode : int {
  kExitOk = 0,
  kExitFault = 1,      // a fault while running: I/O, a lost rank, a numerical fault
  kExitBadInput = 2,   // bad config, data, checkpoint or flag; nothing was written
  kExitPreempted = 3,  // stopped on SIGTERM/SIGUSR1 after a checkpoint; requeue to resume
};

// Bad input from the user: a config, data file, checkpoint or flag. The message names
// the file, key or value. Every rank sees the same input, so every rank throws it.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A fault that every rank detects at the same step (a NaN gradient after the allreduce,
// diverged replicas): every rank throws it, so the job can end without MPI_Abort.
class CollectiveFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A collective did not complete in time: a peer died or stopped taking part.
class CollectiveTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace nin
