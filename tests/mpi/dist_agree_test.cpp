// dist/agree.h under mpirun: closed-form answers that hold for any world size.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/agree.h"
#include "dist/mpi_communicator.h"

namespace nin::dist {
namespace {

constexpr std::chrono::milliseconds kTimeout{60000};  // a hang becomes a failure, not a stuck job

TEST(Agree, AnyAndAllRanks) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  const int r = comm->rank();
  const int s = comm->size();
  EXPECT_TRUE(any_rank(*comm, r == s - 1));  // only the last rank says yes
  EXPECT_FALSE(any_rank(*comm, false));
  EXPECT_TRUE(all_ranks(*comm, true));
  EXPECT_EQ(all_ranks(*comm, r == 0), s == 1);  // only rank 0 says yes
}

TEST(Agree, MaxOverRanks) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  EXPECT_EQ(max_over_ranks(*comm, comm->rank()), comm->size() - 1);
  const int64_t below_int32 = -(int64_t{1} << 40);  // the answer must not pass through an int
  EXPECT_EQ(max_over_ranks(*comm, below_int32), below_int32);
}

TEST(Agree, SameOnAllRanks) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, kTimeout);
  const int s = comm->size();
  EXPECT_TRUE(same_on_all_ranks(*comm, torch::tensor({int64_t{1} << 40, int64_t{-3}})));
  EXPECT_TRUE(same_on_all_ranks(*comm, torch::tensor({0.5, -2.25})));
  EXPECT_EQ(same_on_all_ranks(*comm, torch::tensor({0.5, 1.0 * comm->rank()})), s == 1);
  EXPECT_FALSE(same_on_all_ranks(*comm, torch::tensor({std::nan("")})));  // NaN equals nothing
  // Every rank throws before any message, so the ranks stay in step.
  EXPECT_THROW(same_on_all_ranks(*comm, torch::ones({2, 2})), std::invalid_argument);
  EXPECT_THROW(same_on_all_ranks(*comm, torch::ones({2}, torch::kByte)), std::invalid_argument);
}

}  // namespace
}  // namespace nin::dist
