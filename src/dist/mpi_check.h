// NIN_MPI_CHECK: turns a failed MPI call into an exception naming rank, host, file:line.
#pragma once

#include <mpi.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "dist/where.h"

namespace nin::dist::detail {

// "MPI error in <call> at <file>:<line> on rank R (host H): <MPI_Error_string>".
// Asks MPI for the rank itself, so it also works before Process knows it.
[[noreturn]] inline void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int text_len = 0;
  if (MPI_Error_string(code, text, &text_len) != MPI_SUCCESS) {
    text_len = snprintf(text, sizeof(text), "unknown MPI error code %d", code);
  }
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = -1;
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);  // only defined in between
  throw std::runtime_error("MPI error in " + std::string(call) + " at " + file + ":" + std::to_string(line) + " on " +
                           rank_on_host(rank) + ": " + std::string(text, text_len));
}

}  // namespace nin::dist::detail

// Needs MPI_ERRORS_RETURN on the communicator used, or MPI aborts before returning.
#define NIN_MPI_CHECK(call)                                                  \
  do {                                                                       \
    const int nin_mpi_code_ = (call);                                        \
    if (nin_mpi_code_ != MPI_SUCCESS) {                                      \
      ::nin::dist::detail::throw_mpi_error(nin_mpi_code_, #call, __FILE__, __LINE__); \
    }                                                                        \
  } while (0)
