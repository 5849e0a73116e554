// How every message names a rank: "rank R (host H)".
#pragma once

#include <unistd.h>

#include <string>

namespace nin::dist {

// This machine's name, as gethostname gives it (MPI_Get_processor_name gives the same in
// Open MPI and MPICH); usable before MPI starts and after it ends.
inline std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

// "rank R (host H)"; a rank not known yet (negative) reads "rank ?".
inline std::string rank_on_host(int rank, const std::string& host = this_host()) {
  return "rank " + (rank >= 0 ? std::to_string(rank) : std::string("?")) + " (host " + host + ")";
}

}  // namespace nin::dist
