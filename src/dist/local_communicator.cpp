// The world of one: every collective completes at once and leaves its tensor unchanged.
#include <stdexcept>
#include <string>

#include "dist/allgather_header.h"
#include "dist/communicator.h"

namespace nin::dist {
namespace {

// Same contract as the real backends, so a bug shows up in a world of one too.
void check_tensor(const torch::Tensor& tensor, const char* what) {
  if (!tensor.defined()) throw std::invalid_argument(std::string(what) + ": undefined tensor");
  if (!tensor.is_non_overlapping_and_dense()) {  // contiguous or channels-last
    throw std::invalid_argument(std::string(what) + ": tensor must be dense");
  }
}

class DoneWork final : public Work {
 public:
  bool test() override { return true; }
  void wait() override {}
};

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }

  // Sum, max and min of one contribution are that contribution; so is its average.
  std::unique_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp /*op*/) override {
    check_tensor(tensor, "allreduce");
    return std::make_unique<DoneWork>();
  }

  void broadcast(torch::Tensor tensor, int root) override {
    check_tensor(tensor, "broadcast");
    if (root != 0) {
      throw std::invalid_argument("broadcast: root " + std::to_string(root) +
                                  " outside a world of size 1");
    }
  }

  void barrier() override {}

  std::vector<torch::Tensor> allgather(const torch::Tensor& mine) override {
    check_allgather_input(mine, "allgather");
    return {mine};
  }
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace nin::dist
