// MPI backend: non-blocking collectives on CPU tensors, polled until done or timed out.
#include "dist/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "dist/allgather_header.h"
#include "dist/mpi_check.h"
#include "dist/mpi_wait.h"
#include "dist/where.h"
#include "util/error.h"

namespace nin::dist {
namespace {

using Clock = std::chrono::steady_clock;

MPI_Datatype mpi_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kInt: return MPI_INT32_T;
    case torch::kLong: return MPI_INT64_T;
    case torch::kByte: return MPI_UINT8_T;
    case torch::kChar: return MPI_INT8_T;
    default:
      throw std::invalid_argument(std::string("MPI communicator: no MPI type for dtype ") +
                                  c10::toString(type));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kAvg: return MPI_SUM;  // divided by the world size once complete
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  throw std::invalid_argument("MPI communicator: unknown ReduceOp");
}

void check_tensor(const torch::Tensor& tensor, const char* what) {
  if (!tensor.defined()) throw std::invalid_argument(std::string(what) + ": undefined tensor");
  if (!tensor.device().is_cpu()) {
    throw std::invalid_argument(std::string(what) +
                                ": the MPI communicator takes CPU tensors, got " +
                                tensor.device().str());
  }
  if (!tensor.is_non_overlapping_and_dense()) {  // contiguous or channels-last
    throw std::invalid_argument(std::string(what) + ": tensor must be dense");
  }
  if (tensor.numel() > INT_MAX) {  // MPI counts are int
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(tensor.numel()) +
                                " elements exceed MPI's int count");
  }
}

// The duplicated communicator, shared by the communicator and its Works: OpenMPI 4.1
// crashes progressing a collective whose communicator was freed, so it lives until the
// last of them ends, and forever if a Work is abandoned in flight.
struct CommHandle {
  MPI_Comm comm = MPI_COMM_NULL;
  ~CommHandle() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
  }
};

// What a Work needs to report a timeout; copied so a Work may outlive its communicator.
struct Where {
  int rank;
  int size;
  std::string host;
  std::chrono::milliseconds timeout;
};

class MpiWork final : public Work {
 public:
  // `tensor` keeps the buffer alive while MPI writes to it, `also` anything else MPI reads
  // (an allgatherv's counts); divide_by > 0 for kAvg.
  MpiWork(std::shared_ptr<CommHandle> comm, MPI_Request request, torch::Tensor tensor,
          int divide_by, std::string what, Where where, std::shared_ptr<void> also = nullptr)
      : comm_(std::move(comm)), request_(request), tensor_(std::move(tensor)), also_(std::move(also)),
        divide_by_(divide_by), what_(std::move(what)), where_(std::move(where)) {}

  // An unfinished collective cannot be cancelled or freed (MPI forbids both for
  // non-blocking collectives), and waiting here could block unwinding for a whole
  // timeout. So we test once and, if still running, leak the request and references to
  // the buffer and the communicator: MPI may still use both, and the job is failing anyway.
  ~MpiWork() override {
    if (done_) return;
    int flag = 0;
    if (MPI_Test(&request_, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) return;
    static_cast<void>(new torch::Tensor(std::move(tensor_)));               // intentional leak
    if (also_) static_cast<void>(new std::shared_ptr<void>(std::move(also_)));  // intentional leak
    static_cast<void>(new std::shared_ptr<CommHandle>(std::move(comm_)));  // intentional leak
  }

  bool test() override {
    if (done_) return true;
    int flag = 0;
    NIN_MPI_CHECK(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE));
    if (!flag) return false;
    done_ = true;
    // The average only after the sum has arrived: dividing earlier would race with MPI.
    if (divide_by_ > 0) {
      if (torch::isFloatingType(tensor_.scalar_type())) {
        tensor_.div_(divide_by_);
      } else {
        tensor_.div_(divide_by_, "trunc");  // integer average rounds toward zero
      }
    }
    return true;
  }

  void wait() override {
    const auto start = Clock::now();
    const auto deadline = start + where_.timeout;
    const auto spin_until = start + std::chrono::milliseconds(1);
    while (!test()) {
      const auto now = Clock::now();
      if (now > deadline) throw CollectiveTimeout(timeout_message());
      // OpenMPI progresses only inside MPI calls: yield at first for latency, then sleep
      // briefly so a long wait leaves the core to other ranks.
      if (now < spin_until) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }

 private:
  std::string timeout_message() const {
    std::ostringstream out;
    out << what_ << " did not complete within " << where_.timeout.count() / 1000.0 << " s on "
        << rank_on_host(where_.rank, where_.host) << ": a peer rank died or stopped responding";
    return out.str();
  }

  std::shared_ptr<CommHandle> comm_;
  MPI_Request request_;
  torch::Tensor tensor_;
  std::shared_ptr<void> also_;
  int divide_by_;
  std::string what_;  // "allreduce of N bytes", for the timeout message
  Where where_;
  bool done_ = false;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) {
      throw std::invalid_argument("MPI communicator: timeout must be positive, got " +
                                  std::to_string(timeout.count()) + " ms");
    }
    // Our own communicator: our collectives never match someone else's on MPI_COMM_WORLD.
    MPI_Request dup = MPI_REQUEST_NULL;
    NIN_MPI_CHECK(MPI_Comm_idup(comm, &comm_->comm, &dup));  // a rank that never comes times out
    wait_within(dup, timeout, "creating the communicator (MPI_Comm_idup)", comm_);
    NIN_MPI_CHECK(MPI_Comm_set_errhandler(comm_->comm, MPI_ERRORS_RETURN));  // codes, not aborts
    NIN_MPI_CHECK(MPI_Comm_rank(comm_->comm, &where_.rank));
    NIN_MPI_CHECK(MPI_Comm_size(comm_->comm, &where_.size));
    where_.host = this_host();
    where_.timeout = timeout;
  }

  int rank() const override { return where_.rank; }
  int size() const override { return where_.size; }

  std::unique_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op) override {
    check_tensor(tensor, "allreduce");
    const MPI_Datatype type = mpi_type(tensor.scalar_type());
    MPI_Request request = MPI_REQUEST_NULL;
    NIN_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                                 type, mpi_op(op), comm_->comm, &request));
    const int divide_by = op == ReduceOp::kAvg ? where_.size : 0;
    return std::make_unique<MpiWork>(comm_, request, tensor, divide_by,
                                     describe("allreduce", tensor), where_);
  }

  void broadcast(torch::Tensor tensor, int root) override {
    check_tensor(tensor, "broadcast");
    if (root < 0 || root >= where_.size) {
      throw std::invalid_argument("broadcast: root " + std::to_string(root) +
                                  " outside a world of size " + std::to_string(where_.size));
    }
    const MPI_Datatype type = mpi_type(tensor.scalar_type());
    MPI_Request request = MPI_REQUEST_NULL;
    NIN_MPI_CHECK(MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()), type, root,
                             comm_->comm, &request));
    MpiWork(comm_, request, tensor, 0, describe("broadcast", tensor), where_).wait();
  }

  void barrier() override {
    MPI_Request request = MPI_REQUEST_NULL;
    NIN_MPI_CHECK(MPI_Ibarrier(comm_->comm, &request));
    MpiWork(comm_, request, torch::Tensor(), 0, "barrier", where_).wait();
  }

  // Two collectives: every rank's header (rows, dtype, row shape), then the bytes, each
  // rank's at its offset in one buffer (MPI_IN_PLACE: a rank's own rows are copied there).
  std::vector<torch::Tensor> allgather(const torch::Tensor& mine_in) override {
    check_allgather_input(mine_in, "allgather");
    check_tensor(mine_in, "allgather");
    const torch::Tensor mine = mine_in.contiguous();  // rows in memory order
    const int size = where_.size;
    auto headers = torch::empty({size, kAllgatherHeader}, torch::kLong);
    const AllgatherHeader own = allgather_header(mine);
    std::copy(own.begin(), own.end(), headers[where_.rank].data_ptr<int64_t>());
    MPI_Request request = MPI_REQUEST_NULL;
    NIN_MPI_CHECK(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, headers.data_ptr(),
                                 static_cast<int>(kAllgatherHeader), MPI_INT64_T, comm_->comm, &request));
    MpiWork(comm_, request, headers, 0, "allgather of the sizes", where_).wait();
    const std::vector<int64_t> rows = allgather_rows(headers.data_ptr<int64_t>(), size, "allgather");

    // Bytes per rank and offsets, in MPI's int; the same on every rank, so a refusal is too.
    const int64_t row_bytes = own[3] * int64_t(mine.element_size());
    auto counts = std::make_shared<std::vector<int>>(size_t(2 * size));  // counts, then offsets
    int64_t total = 0;
    for (int r = 0; r < size; ++r) {
      (*counts)[size_t(r)] = static_cast<int>(rows[size_t(r)] * row_bytes);
      (*counts)[size_t(size + r)] = static_cast<int>(total);
      total += rows[size_t(r)] * row_bytes;
      if (total > INT_MAX) {
        throw std::invalid_argument("allgather: more than " + std::to_string(INT_MAX) +
                                    " bytes in all exceed MPI's int count");
      }
    }
    std::vector<int64_t> shape = mine.sizes().vec();
    shape[0] = std::accumulate(rows.begin(), rows.end(), int64_t{0});
    auto all = torch::empty(shape, mine.options());
    const int64_t before = std::accumulate(rows.begin(), rows.begin() + where_.rank, int64_t{0});
    all.narrow(0, before, mine.size(0)).copy_(mine);
    if (total > 0) {
      NIN_MPI_CHECK(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all.data_ptr(), counts->data(),
                                    counts->data() + size, MPI_BYTE, comm_->comm, &request));
      MpiWork(comm_, request, all, 0, describe("allgather", all), where_, counts).wait();
    }
    return all.split_with_sizes(rows, 0);
  }

 private:
  static std::string describe(const char* what, const torch::Tensor& tensor) {
    return std::string(what) + " of " + std::to_string(tensor.nbytes()) + " bytes";
  }

  std::shared_ptr<CommHandle> comm_ = std::make_shared<CommHandle>();
  Where where_{};
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm,
                                                    std::chrono::milliseconds timeout) {
  return std::make_unique<MpiCommunicator>(comm, timeout);
}

}  // namespace nin::dist
