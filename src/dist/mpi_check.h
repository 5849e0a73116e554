// NIN_MPI_CHECK: turns a failed MPI call into an exception naming rank, host, file:line.
#pragma once

#include <mpi.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace nin::dist::detail {

// "MPI error in <call> at <file>:<line> on rank R (host H): <MPI_Error_string>".
// Asks MPI for rank and host itself, so it also works before Process knows them.
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
  char host[MPI_MAX_PROCESSOR_NAME] = "?";
  int host_len = 1;
  if (initialized && !finalized) {  // rank and host are only defined in between
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Get_processor_name(host, &host_len);
  }
  throw std::runtime_error("MPI error in " + std::string(call) + " at " + file + ":" +
                           std::to_string(line) + " on rank " + std::to_string(rank) + " (host " +
                           std::string(host, host_len) + "): " + std::string(text, text_len));
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
