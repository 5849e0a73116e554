// MPI lifetime and this process's place in the job: rank, world, node-local rank. The rest
// of the program sees no MPI type: communicators are made by dist/factory.h.
#pragma once

#include <string>

namespace nin::dist {

// Owns MPI_Init_thread/MPI_Finalize; create exactly one, in main. Started without
// mpirun, it is a world of size 1 (MPI singleton). Local rank and local size come from
// an MPI_COMM_TYPE_SHARED split, never from hostnames.
class Process {
 public:
  Process(int* argc, char*** argv);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int num_nodes() const { return num_nodes_; }
  const std::string& host() const { return host_; }
  // The first line of the MPI library's own description, e.g. "Open MPI v4.1.4, ...".
  static std::string library_version();

  // Ends every rank of the job now with `code`; for faults that other ranks cannot see.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int num_nodes_ = 1;
  std::string host_;
  bool owns_mpi_ = false;  // false when MPI was already initialized (tests): never finalize it
};

}  // namespace nin::dist
