// NCCL layers without a GPU: dtype and op mapping, error messages, the no-device path.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <nccl.h>

#include "dist/nccl/cuda_check.h"
#include "dist/nccl/nccl_comm.h"
#include "dist/nccl/nccl_dtype.h"

namespace nin::dist {
namespace {

// NcclComm shares its id over MPI; one MPI_Init per test process (ctest runs each test
// as its own process). gtest_discover_tests only lists tests, which skips SetUp.
class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    int provided = 0;
    ASSERT_EQ(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), MPI_SUCCESS);
    owned_ = true;
  }
  void TearDown() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) MPI_Finalize();
  }

 private:
  bool owned_ = false;
};
::testing::Environment* const kMpi = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

int visible_devices() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  (void)cudaGetLastError();
  return error == cudaSuccess ? count : 0;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

ncclResult_t failing_nccl_call() { return ncclInvalidArgument; }
cudaError_t failing_cuda_call() { return cudaErrorInvalidValue; }

TEST(NcclMapping, DTypes) {
  EXPECT_EQ(to_nccl(c10::ScalarType::Float), ncclFloat32);
  EXPECT_EQ(to_nccl(c10::ScalarType::Double), ncclFloat64);
  EXPECT_EQ(to_nccl(c10::ScalarType::BFloat16), ncclBfloat16);
  EXPECT_EQ(to_nccl(c10::ScalarType::Half), ncclFloat16);
  EXPECT_EQ(to_nccl(c10::ScalarType::Int), ncclInt32);
  EXPECT_EQ(to_nccl(c10::ScalarType::Long), ncclInt64);
  EXPECT_EQ(to_nccl(c10::ScalarType::Byte), ncclUint8);
  const std::string text = message_of([] { to_nccl(c10::ScalarType::Bool); });
  EXPECT_NE(text.find("NCCL backend: unsupported dtype Bool"), std::string::npos) << text;
  EXPECT_THROW(to_nccl(c10::ScalarType::ComplexFloat), std::invalid_argument);
}

TEST(NcclMapping, Ops) {
  EXPECT_EQ(to_nccl(ReduceOp::kSum), ncclSum);
  EXPECT_EQ(to_nccl(ReduceOp::kAvg), ncclAvg);  // NCCL divides on the device, no extra pass
  EXPECT_EQ(to_nccl(ReduceOp::kMax), ncclMax);
  EXPECT_EQ(to_nccl(ReduceOp::kMin), ncclMin);
  EXPECT_THROW(to_nccl(static_cast<ReduceOp>(42)), std::invalid_argument);
}

TEST(NcclErrors, EveryResultHasNcclsStringAndAHint) {
  for (int code = ncclSuccess; code < ncclNumResults; ++code) {
    const auto result = static_cast<ncclResult_t>(code);
    const std::string text = describe_nccl_result(result);
    EXPECT_NE(text.find(ncclGetErrorString(result)), std::string::npos) << text;
    EXPECT_NE(text.find(nccl_result_hint(result)), std::string::npos) << text;
  }
  EXPECT_NE(describe_nccl_result(ncclRemoteError).find("a peer rank failed or the network dropped; see that rank's log"),
            std::string::npos);
  EXPECT_NE(describe_nccl_result(ncclSystemError).find("NCCL_SOCKET_IFNAME"), std::string::npos);
  EXPECT_NE(describe_nccl_result(static_cast<ncclResult_t>(42)).find("hint:"), std::string::npos);
}

TEST(NcclErrors, NcclCheckNamesCallSiteHostAndNcclString) {
  const int line = __LINE__ + 2;
  try {
    NIN_NCCL_CHECK(failing_nccl_call());
    FAIL() << "NIN_NCCL_CHECK did not throw";
  } catch (const NcclError& e) {
    const std::string text = e.what();
    EXPECT_EQ(e.result(), ncclInvalidArgument);
    EXPECT_NE(text.find("failing_nccl_call() failed at"), std::string::npos) << text;
    EXPECT_NE(text.find("nccl_comm_test.cpp:" + std::to_string(line)), std::string::npos) << text;
    EXPECT_NE(text.find("(host " + this_host() + ")"), std::string::npos) << text;
    EXPECT_NE(text.find(ncclGetErrorString(ncclInvalidArgument)), std::string::npos) << text;
  }
  EXPECT_NO_THROW(NIN_NCCL_CHECK(ncclSuccess));
}

TEST(NcclErrors, CudaCheckNamesCallSiteHostAndCudaString) {
  const int line = __LINE__ + 2;
  try {
    NIN_CUDA_CHECK(failing_cuda_call());
    FAIL() << "NIN_CUDA_CHECK did not throw";
  } catch (const CudaError& e) {
    const std::string text = e.what();
    EXPECT_EQ(e.error(), cudaErrorInvalidValue);
    EXPECT_NE(text.find("failing_cuda_call() failed at"), std::string::npos) << text;
    EXPECT_NE(text.find("nccl_comm_test.cpp:" + std::to_string(line)), std::string::npos) << text;
    EXPECT_NE(text.find("(host " + this_host() + ")"), std::string::npos) << text;
    EXPECT_NE(text.find(cudaGetErrorString(cudaErrorInvalidValue)), std::string::npos) << text;
  }
  EXPECT_NO_THROW(NIN_CUDA_CHECK(cudaSuccess));
}

// On a CPU node: the "no CUDA device" message. On a GPU node: one index past the last GPU.
TEST(NcclComm, RefusesAMissingDevice) {
  const int count = visible_devices();
  const std::string text = message_of([&] { NcclComm comm(MPI_COMM_SELF, count, std::chrono::seconds(5)); });
  if (count == 0) {
    EXPECT_NE(text.find("no CUDA device visible for rank 0 (host " + this_host() + ")"), std::string::npos) << text;
    EXPECT_NE(text.find("set device = \"cpu\" or run on a GPU node"), std::string::npos) << text;
  } else {
    const std::string gpus = std::to_string(count) + (count == 1 ? " GPU" : " GPUs");
    EXPECT_NE(text.find("rank 0 (host " + this_host() + ") wants device " + std::to_string(count) + " but the host has " + gpus),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("launch at most " + std::to_string(count) + " ranks per node"), std::string::npos) << text;
  }
}

// A world of one on a real GPU: sum and average leave the data unchanged, broadcast from
// rank 0 and allgather too, and every wait path works. Skipped where no GPU is visible.
TEST(NcclComm, OneRankCollectivesOnGpu) {
  if (visible_devices() == 0) GTEST_SKIP() << "no CUDA device on this host";
  constexpr size_t kCount = 1000;
  std::vector<float> host(kCount);
  for (size_t i = 0; i < kCount; ++i) host[i] = static_cast<float>(i) * 0.5f;

  NcclComm comm(MPI_COMM_SELF, 0, std::chrono::seconds(60));
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  cudaStream_t compute = nullptr;
  NIN_CUDA_CHECK(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
  float* data = nullptr;
  NIN_CUDA_CHECK(cudaMalloc(&data, kCount * sizeof(float)));
  NIN_CUDA_CHECK(cudaMemcpyAsync(data, host.data(), kCount * sizeof(float), cudaMemcpyHostToDevice, compute));
  {
    NcclWork sum = comm.allreduce(data, kCount, ncclFloat32, ReduceOp::kSum, compute);
    sum.wait(compute);
    NcclWork avg = comm.allreduce(data, kCount, ncclFloat32, ReduceOp::kAvg, compute);
    avg.synchronize();
    EXPECT_TRUE(avg.test());
    NcclWork bcast = comm.broadcast(data, kCount, ncclFloat32, /*root=*/0, compute);
    bcast.wait(compute);
    NcclWork gather = comm.allgather(data, data, kCount, ncclFloat32, compute);  // one rank, in place
    gather.wait(compute);
    comm.synchronize();
    EXPECT_NO_THROW(comm.check());  // nothing hung, nothing failed
  }
  std::vector<float> back(kCount, -1.0f);
  NIN_CUDA_CHECK(cudaMemcpyAsync(back.data(), data, kCount * sizeof(float), cudaMemcpyDeviceToHost, compute));
  NIN_CUDA_CHECK(cudaStreamSynchronize(compute));
  EXPECT_EQ(back, host);
  EXPECT_THROW(comm.broadcast(data, kCount, ncclFloat32, /*root=*/1, compute), std::invalid_argument);
  EXPECT_FALSE(comm.aborted());
  NIN_CUDA_CHECK(cudaFree(data));
  NIN_CUDA_CHECK(cudaStreamDestroy(compute));
}

}  // namespace
}  // namespace nin::dist
