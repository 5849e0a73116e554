// gtest main for tests run under mpirun: fails the job when any rank fails.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include <mpi.h>

#include "dist/process.h"

namespace {

// Ranks other than 0 print only their failures, tagged with the rank, not the full log.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  nin::dist::Process process(&argc, &argv);  // first: tests construct their own on top
  ::testing::InitGoogleTest(&argc, argv);
  if (process.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(process.rank()));
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (process.rank() == 0 && failed) std::fprintf(stderr, "mpi_tests: a rank failed\n");
  return failed;
}
