// NcclBackend: LibTorch's current stream and dtypes onto the raw NcclComm.
#include "dist/nccl/nccl_backend.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/types.h>

#include "dist/allgather_header.h"
#include "dist/nccl/nccl_comm.h"
#include "dist/nccl/nccl_dtype.h"

namespace nin::dist {
namespace {

// NcclWork as a Work: wait() orders LibTorch's current stream after the collective.
class NcclBackendWork final : public Work {
 public:
  NcclBackendWork(NcclWork work, c10::DeviceIndex device) : work_(std::move(work)), device_(device) {}
  bool test() override { return work_.test(); }
  // No host sync: the caller's next kernels (optimizer step) queue behind the collective
  // while the host runs ahead.
  void wait() override { work_.wait(c10::cuda::getCurrentCUDAStream(device_).stream()); }

 private:
  NcclWork work_;
  c10::DeviceIndex device_;
};

class NcclBackend final : public Communicator {
 public:
  NcclBackend(MPI_Comm comm, int device, std::chrono::milliseconds timeout)
      : comm_(comm, device, timeout), device_(static_cast<c10::DeviceIndex>(device)) {}

  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }

  std::unique_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op) override {
    check_tensor(tensor, "allreduce");
    NcclWork work = comm_.allreduce(tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                                    to_nccl(tensor.scalar_type()), op, current_stream());
    keep_until_done(tensor);
    return std::make_unique<NcclBackendWork>(std::move(work), device_);
  }

  // Rare (initial weights, resume), so it also waits on the host: a hang is reported here.
  void broadcast(torch::Tensor tensor, int root) override {
    check_tensor(tensor, "broadcast");
    NcclWork work = comm_.broadcast(tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                                    to_nccl(tensor.scalar_type()), root, current_stream());
    work.synchronize();
  }

  void barrier() override {
    torch::Tensor token = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA, device_));
    NcclWork work = comm_.allreduce(token.data_ptr(), 1, ncclFloat32, ReduceOp::kSum, current_stream());
    work.synchronize();
  }

  // ncclAllGather wants equal counts: every rank's header first (its rows decide the
  // buffer), then the rows padded to the longest rank's, each rank's cut back to its own.
  // Rare, so both wait on the host, with the timeout.
  std::vector<torch::Tensor> allgather(const torch::Tensor& mine_in) override {
    check_allgather_input(mine_in, "NCCL allgather");
    check_tensor(mine_in, "allgather");
    const torch::Tensor mine = mine_in.contiguous();  // rows in memory order
    const int size = comm_.size();
    const int rank = comm_.rank();
    const AllgatherHeader own = allgather_header(mine);
    const auto on_device = torch::TensorOptions().device(torch::kCUDA, device_);
    auto headers = torch::empty({size, kAllgatherHeader}, on_device.dtype(torch::kLong));
    headers[rank].copy_(torch::tensor(std::vector<int64_t>(own.begin(), own.end()), torch::kLong));
    gather_sync(headers[rank], headers);
    const auto host_headers = headers.cpu();  // ready: gather_sync waited on the host
    const std::vector<int64_t> rows = allgather_rows(host_headers.data_ptr<int64_t>(), size, "NCCL allgather");

    std::vector<int64_t> shape = mine.sizes().vec();
    shape[0] = *std::max_element(rows.begin(), rows.end());
    shape.insert(shape.begin(), size);
    auto all = torch::empty(shape, mine.options());  // [size, longest, row...]
    all[rank].narrow(0, 0, mine.size(0)).copy_(mine);
    if (all.numel() > 0) gather_sync(all[rank], all);
    std::vector<torch::Tensor> out;
    for (int r = 0; r < size; ++r) out.push_back(all[r].narrow(0, 0, rows[size_t(r)]));
    return out;
  }

  void check() override { comm_.check(); }
  void watch(const std::string& what) override { comm_.watch(current_stream(), what); }

  bool stall_stream() override {
    c10::cuda::CUDAStreamGuard on_comm(c10::cuda::getStreamFromExternal(comm_.stream(), device_));
    at::cuda::sleep(std::numeric_limits<int64_t>::max());  // clock cycles: centuries
    return true;
  }

 private:
  cudaStream_t current_stream() const { return c10::cuda::getCurrentCUDAStream(device_).stream(); }

  // `all` holds every rank's slice (`mine`, a view of `all`, is this rank's); host sync.
  void gather_sync(const torch::Tensor& mine, const torch::Tensor& all) {
    NcclWork work = comm_.allgather(mine.data_ptr(), all.data_ptr(), static_cast<size_t>(mine.numel()),
                                    to_nccl(all.scalar_type()), current_stream());
    keep_until_done(all);
    work.synchronize();
  }

  void check_tensor(const torch::Tensor& tensor, const char* op) const {
    if (!tensor.defined()) throw std::invalid_argument(std::string("NCCL ") + op + ": undefined tensor");
    const bool dense = tensor.is_non_overlapping_and_dense();  // contiguous or channels-last
    if (!tensor.is_cuda() || tensor.device().index() != device_ || !dense) {
      throw std::invalid_argument(std::string("NCCL ") + op + " needs a dense tensor on cuda:" +
                                  std::to_string(device_) + ", got a " + (dense ? "" : "non-dense ") +
                                  c10::toString(tensor.scalar_type()) + " tensor on " + tensor.device().str());
    }
  }

  // The tensor is written on the communicator's stream: tell the caching allocator, so
  // its memory is not handed out again before the collective is done with it.
  void keep_until_done(const torch::Tensor& tensor) const {
    tensor.record_stream(c10::cuda::getStreamFromExternal(comm_.stream(), device_));
  }

  NcclComm comm_;
  c10::DeviceIndex device_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_backend(MPI_Comm comm, int device, std::chrono::milliseconds timeout) {
  return std::make_unique<NcclBackend>(comm, device, timeout);
}

}  // namespace nin::dist
