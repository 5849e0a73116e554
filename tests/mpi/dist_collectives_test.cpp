// MPI communicator and process layer; closed-form expectations that hold for any world size.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <thread>
#include <vector>

#include "dist/factory.h"
#include "dist/mpi_check.h"
#include "dist/mpi_communicator.h"
#include "dist/process.h"
#include "util/error.h"

namespace nin::dist {
namespace {

constexpr std::chrono::milliseconds kTimeout{60000};  // a hang becomes a failure, not a stuck job
const std::vector<torch::ScalarType> kTypes = {torch::kFloat, torch::kDouble, torch::kInt,
                                               torch::kLong};
const std::vector<int64_t> kSizes = {1, 7, 1000003};  // elements; 1000003 is prime

std::unique_ptr<Communicator> world() { return make_mpi_communicator(MPI_COMM_WORLD, kTimeout); }

int max_rank(Communicator& comm) {
  auto t = torch::tensor({comm.rank()}, torch::kInt);
  comm.allreduce(t, ReduceOp::kMax);
  return t.item<int>();
}

// Element i of rank r holds r + i % 7, so misplaced elements show up too.
torch::Tensor pattern(int64_t n, torch::ScalarType type) {
  return torch::arange(n, torch::kLong).remainder(7).to(type);
}

TEST(Process, DescribesTheWorld) {
  Process process(nullptr, nullptr);  // MPI is up already: this one does not own it
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(process.size(), size);
  EXPECT_GE(process.rank(), 0);
  EXPECT_LT(process.rank(), size);
  EXPECT_GE(process.local_rank(), 0);
  EXPECT_LT(process.local_rank(), process.local_size());
  EXPECT_GE(process.num_nodes(), 1);
  EXPECT_LE(process.num_nodes(), size);
  // The node leaders' local sizes add up to the world.
  int leaders_local = process.local_rank() == 0 ? process.local_size() : 0;
  MPI_Allreduce(MPI_IN_PLACE, &leaders_local, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(leaders_local, size);
  EXPECT_FALSE(process.host().empty());
}

TEST(Factory, PicksABackendForTheDevice) {
  Process process(nullptr, nullptr);
  auto comm = make_communicator(process, torch::kCPU, kTimeout);
  EXPECT_EQ(comm->size(), process.size());
  EXPECT_EQ(comm->rank(), process.rank());
  // NIN_NCCL_BACKEND: set by tests/CMakeLists.txt from what src/dist/CMakeLists.txt built.
  EXPECT_EQ(nccl_available(), NIN_NCCL_BACKEND != 0);
  if (!nccl_available()) {
    EXPECT_THROW(make_communicator(process, torch::Device(torch::kCUDA, 0), kTimeout), InputError);
  }
}

TEST(MpiCheck, NamesCallRankHostAndMpiError) {
  try {
    NIN_MPI_CHECK(MPI_ERR_COUNT);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MPI error in MPI_ERR_COUNT at "), std::string::npos) << msg;
    EXPECT_NE(msg.find("dist_collectives_test.cpp:"), std::string::npos) << msg;
    EXPECT_NE(msg.find(" on rank "), std::string::npos) << msg;
    EXPECT_NE(msg.find("(host "), std::string::npos) << msg;
    char text[MPI_MAX_ERROR_STRING] = {};
    int len = 0;
    MPI_Error_string(MPI_ERR_COUNT, text, &len);
    EXPECT_NE(msg.find(std::string(text, len)), std::string::npos) << msg;
  }
}

struct OpCase {
  ReduceOp op;
  const char* name;
};

TEST(MpiCommunicator, AllreduceClosedForm) {
  auto comm = world();
  const int64_t r = comm->rank();
  const int64_t s = comm->size();
  for (const OpCase& c : {OpCase{ReduceOp::kSum, "sum"}, OpCase{ReduceOp::kAvg, "avg"},
                          OpCase{ReduceOp::kMax, "max"}, OpCase{ReduceOp::kMin, "min"}}) {
    for (auto type : kTypes) {
      for (int64_t n : kSizes) {
        SCOPED_TRACE(std::string(c.name) + " " + c10::toString(type) + " n=" + std::to_string(n));
        const auto base = pattern(n, torch::kDouble);  // exact in every dtype here
        auto t = (base + static_cast<double>(r)).to(type);
        comm->allreduce(t, c.op);
        torch::Tensor want;
        switch (c.op) {
          case ReduceOp::kSum: want = base * s + s * (s - 1) / 2.0; break;
          case ReduceOp::kMax: want = base + (s - 1); break;
          case ReduceOp::kMin: want = base; break;
          case ReduceOp::kAvg:
            want = base + (s - 1) / 2.0;
            if (!torch::isFloatingType(type)) want = want.trunc();  // integer average truncates
            break;
        }
        EXPECT_TRUE(torch::equal(t, want.to(type)));
      }
    }
  }
}

TEST(MpiCommunicator, SeveralAllreducesInFlight) {
  auto comm = world();
  const int64_t s = comm->size();
  std::vector<torch::Tensor> tensors;
  std::vector<std::unique_ptr<Work>> works;
  for (int k = 0; k < 5; ++k) {
    tensors.push_back(torch::full({1000 + k}, static_cast<float>(comm->rank() + k)));
    works.push_back(comm->allreduce_async(tensors.back(), ReduceOp::kAvg));
  }
  for (int k = 4; k >= 0; --k) works[k]->wait();  // completion order is ours to pick
  for (int k = 0; k < 5; ++k) {
    EXPECT_TRUE(torch::equal(tensors[k], torch::full({1000 + k}, k + (s - 1) / 2.0f))) << k;
    EXPECT_TRUE(works[k]->test());  // test() after completion must not divide again
    EXPECT_TRUE(torch::equal(tensors[k], torch::full({1000 + k}, k + (s - 1) / 2.0f))) << k;
  }
}

TEST(MpiCommunicator, BroadcastFromFirstAndLastRank) {
  auto comm = world();
  for (int root : {0, comm->size() - 1}) {
    for (auto type : kTypes) {
      for (int64_t n : kSizes) {
        SCOPED_TRACE("root " + std::to_string(root) + " " + c10::toString(type) +
                     " n=" + std::to_string(n));
        const auto want = (pattern(n, torch::kDouble) + 100 * root).to(type);
        auto t = comm->rank() == root ? want.clone() : torch::full({n}, -1, type);
        comm->broadcast(t, root);
        EXPECT_TRUE(torch::equal(t, want));
      }
    }
  }
}

TEST(MpiCommunicator, Barrier) {
  auto comm = world();
  for (int k = 0; k < 3; ++k) comm->barrier();
}

TEST(MpiCommunicator, SmallIntegerTypes) {
  auto comm = world();
  for (auto type : {torch::kByte, torch::kChar}) {
    auto t = torch::full({9}, comm->rank() % 50, type);
    comm->allreduce(t, ReduceOp::kMax);
    EXPECT_TRUE(torch::equal(t, torch::full({9}, (comm->size() - 1) % 50, type)));
  }
}

// Channels-last parameters (train.channels_last) are dense but not contiguous.
TEST(MpiCommunicator, ChannelsLastTensors) {
  auto comm = world();
  const auto nchw = torch::arange(2 * 3 * 4 * 5, torch::kFloat).view({2, 3, 4, 5});
  auto t = (nchw * (comm->rank() + 1)).contiguous(torch::MemoryFormat::ChannelsLast);
  comm->allreduce(t, ReduceOp::kSum);
  const int n = comm->size();
  EXPECT_TRUE(torch::equal(t, nchw * (n * (n + 1) / 2)));
  EXPECT_TRUE(t.is_contiguous(torch::MemoryFormat::ChannelsLast));

  auto b = (nchw + comm->rank()).contiguous(torch::MemoryFormat::ChannelsLast);
  comm->broadcast(b, 0);
  EXPECT_TRUE(torch::equal(b, nchw));
}

TEST(MpiCommunicator, RejectsBadArguments) {
  auto comm = world();  // every rank throws before any collective starts
  // Every other column: gaps in memory, so no element order fits a flat buffer.
  EXPECT_THROW(comm->allreduce(torch::ones({4, 8}).slice(1, 0, 8, 2), ReduceOp::kSum),
               std::invalid_argument);
  EXPECT_THROW(comm->allreduce(torch::ones({4}, torch::kBool), ReduceOp::kSum),
               std::invalid_argument);
  EXPECT_THROW(comm->broadcast(torch::ones({4}), comm->size()), std::invalid_argument);
  EXPECT_THROW(comm->broadcast(torch::ones({4}), -1), std::invalid_argument);
  EXPECT_THROW(make_mpi_communicator(MPI_COMM_WORLD, std::chrono::milliseconds(0)),
               std::invalid_argument);
}

// Rank r contributes r + 1 rows of value r: sum(r + 1) rows in all, in rank order.
TEST(MpiCommunicator, AllgatherRowsInRankOrder) {
  auto comm = world();
  const int64_t r = comm->rank();
  const int64_t s = comm->size();
  for (auto type : {torch::kFloat, torch::kDouble, torch::kInt, torch::kLong, torch::kByte}) {
    SCOPED_TRACE(c10::toString(type));
    const auto all = comm->allgather(torch::full({r + 1, 3}, double(r), type));
    ASSERT_EQ(int64_t(all.size()), s);
    for (int64_t k = 0; k < s; ++k) {
      EXPECT_TRUE(torch::equal(all[size_t(k)], torch::full({k + 1, 3}, double(k), type))) << k;
    }
    const auto rows = torch::cat(all);
    EXPECT_EQ(rows.size(0), s * (s + 1) / 2);
    EXPECT_EQ(rows.sum().item<double>(), double((s - 1) * s * (s + 1)));  // 3 columns x sum of k(k+1)
  }
}

// A rank with no rows, or none at all, is fine: rank r contributes r rows.
TEST(MpiCommunicator, AllgatherEmptyRanks) {
  auto comm = world();
  const int64_t r = comm->rank();
  const auto all = comm->allgather(torch::full({r, 2, 2}, double(r)));
  for (int64_t k = 0; k < comm->size(); ++k) {
    EXPECT_TRUE(torch::equal(all[size_t(k)], torch::full({k, 2, 2}, double(k)))) << k;
  }
  for (const auto& none : comm->allgather(torch::empty({0, 6}, torch::kDouble))) {
    EXPECT_EQ(none.sizes().vec(), (std::vector<int64_t>{0, 6}));
  }
}

// Channels-last (dense, not contiguous) rows arrive in logical order.
TEST(MpiCommunicator, AllgatherChannelsLast) {
  auto comm = world();
  const auto nchw = torch::arange(2 * 3 * 4 * 5, torch::kFloat).view({2, 3, 4, 5});
  const auto all = comm->allgather((nchw + comm->rank()).contiguous(torch::MemoryFormat::ChannelsLast));
  for (int k = 0; k < comm->size(); ++k) EXPECT_TRUE(torch::equal(all[size_t(k)], nchw + k)) << k;
}

TEST(MpiCommunicator, AllgatherStringsOfDifferentLengths) {
  auto comm = world();
  const int r = comm->rank();
  const auto mine = [](int k) { return std::string(size_t(k) * 37, char('a' + k % 26)); };  // "" on rank 0
  const auto all = allgather_strings(*comm, mine(r));
  ASSERT_EQ(int(all.size()), comm->size());
  for (int k = 0; k < comm->size(); ++k) EXPECT_EQ(all[size_t(k)], mine(k)) << k;
  const std::string with_nul("a\0b\tc", 5);  // bytes, not C strings
  for (const auto& s : allgather_strings(*comm, with_nul)) EXPECT_EQ(s, with_nul);
}

// Every rank sees every rank's dtype and row shape, so all of them refuse a mismatch alike,
// and stay in step for the next collective.
TEST(MpiCommunicator, AllgatherRefusesMismatchOnEveryRank) {
  auto comm = world();
  const int r = comm->rank();
  const int last = comm->size() - 1;
  const auto message_of = [&](const torch::Tensor& mine) -> std::string {
    try {
      comm->allgather(mine);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  const std::string dtype = message_of(torch::ones({2, 3}, r == last ? torch::kDouble : torch::kFloat));
  const std::string shape = message_of(torch::ones({2, 3 + (r == last ? 1 : 0)}));
  const std::string dims = message_of(r == last ? torch::ones({2, 3, 1}) : torch::ones({2, 3}));
  if (comm->size() == 1) {
    EXPECT_EQ(dtype + shape + dims, "");  // no one to differ from
  } else {
    const std::string on = " on rank " + std::to_string(last) + " but ";
    EXPECT_EQ(dtype, "allgather: dtype Double" + on + "Float on rank 0");
    EXPECT_EQ(shape, "allgather: row shape (dims 1..) [4]" + on + "[3] on rank 0");
    EXPECT_EQ(dims, "allgather: row shape (dims 1..) [3, 1]" + on + "[3] on rank 0");
  }
  EXPECT_THROW(comm->allgather(torch::tensor(1.0)), std::invalid_argument);  // no rows: before any message
  EXPECT_EQ(max_rank(*comm), last);  // still in step
}

TEST(LocalCommunicator, AllgatherReturnsItsInput) {
  auto comm = make_local_communicator();
  const auto mine = torch::arange(6, torch::kLong).view({3, 2});
  const auto all = comm->allgather(mine);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].is_same(mine));
  EXPECT_EQ(allgather_strings(*comm, "host\tcpu"), std::vector<std::string>{"host\tcpu"});
  EXPECT_THROW(comm->allgather(torch::tensor(1.0)), std::invalid_argument);
}

}  // namespace
}  // namespace nin::dist

TEST(MpiCommunicator, SetUpTimesOutWhenAPeerNeverComes) {
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (size < 2) GTEST_SKIP() << "needs a peer";
  if (rank == 0) {  // the others arrive a second late: rank 0 gives up after 0.2 s
    try {
      nin::dist::make_mpi_communicator(MPI_COMM_WORLD, std::chrono::milliseconds(200));
      ADD_FAILURE() << "no timeout";
    } catch (const nin::CollectiveTimeout& e) {
      EXPECT_NE(std::string(e.what()).find("MPI_Comm_idup) did not complete within 0.2 s on rank 0"), std::string::npos)
          << e.what();
    }
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    MPI_Comm late;
    MPI_Comm_dup(MPI_COMM_WORLD, &late);  // completes rank 0's abandoned request
    MPI_Comm_free(&late);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}
