// MPI lifetime and the process's place in the job.
#include "dist/process.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

#include "dist/mpi_check.h"
#include "dist/where.h"

namespace nin::dist {

Process::Process(int* argc, char*** argv) {
  int initialized = 0;
  int finalized = 0;
  NIN_MPI_CHECK(MPI_Initialized(&initialized));
  NIN_MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) throw std::logic_error("Process: MPI was already finalized");
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    // SERIALIZED: autograd hooks may call MPI from a thread other than main, never at once.
    NIN_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided));
    owns_mpi_ = true;
  } else {
    NIN_MPI_CHECK(MPI_Query_thread(&provided));
  }
  try {
    if (provided < MPI_THREAD_SERIALIZED) {
      throw std::runtime_error("Process: this MPI provides thread level " +
                               std::to_string(provided) +
                               ", below the MPI_THREAD_SERIALIZED that gradient hooks need");
    }
    NIN_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    NIN_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));

    // Ranks that share memory are on one node; hostnames can lie (containers, aliases).
    MPI_Comm local = MPI_COMM_NULL;
    NIN_MPI_CHECK(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
    NIN_MPI_CHECK(MPI_Comm_rank(local, &local_rank_));
    NIN_MPI_CHECK(MPI_Comm_size(local, &local_size_));
    NIN_MPI_CHECK(MPI_Comm_free(&local));

    int is_leader = local_rank_ == 0 ? 1 : 0;  // one leader per node
    NIN_MPI_CHECK(MPI_Allreduce(&is_leader, &num_nodes_, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));

    host_ = this_host();
  } catch (...) {
    if (owns_mpi_) MPI_Finalize();  // the destructor does not run for a failed constructor
    throw;
  }
}

Process::~Process() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void Process::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort should not return; make sure the process ends anyway
}

std::string Process::library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  if (MPI_Get_library_version(text, &length) != MPI_SUCCESS) return "unknown";
  std::string version(text, static_cast<size_t>(std::max(length, 0)));
  version = version.substr(0, version.find('\n'));
  while (!version.empty() && (version.back() == '\0' || std::isspace(static_cast<unsigned char>(version.back()))))
    version.pop_back();
  return version.empty() ? "unknown" : version;
}

}  // namespace nin::dist
