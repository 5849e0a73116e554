// The trace's clock in a CUDA build: events on the current stream for a CUDA device.
#include "monitor/trace_clock.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

namespace nin::monitor {
namespace {

// Timing events (cudaEventDefault): recording one costs the host a few microseconds and
// never waits; only resolve() and drain() wait, both outside the traced steps.
class CudaEventClock final : public TraceClock {
 public:
  explicit CudaEventClock(const torch::Device& device) : device_(device) {}
  ~CudaEventClock() override {
    for (auto e : events_) (void)cudaEventDestroy(e);  // no throw from a destructor
    if (origin_) (void)cudaEventDestroy(origin_);
  }

  void drain() override { stream().synchronize(); }
  void origin() override {
    c10::cuda::CUDAGuard guard(device_);
    if (!origin_) C10_CUDA_CHECK(cudaEventCreate(&origin_));
    C10_CUDA_CHECK(cudaEventRecord(origin_, stream()));  // an idle stream: it completes at once
  }
  size_t mark() override {
    c10::cuda::CUDAGuard guard(device_);
    if (used_ == events_.size()) {
      events_.emplace_back();
      C10_CUDA_CHECK(cudaEventCreate(&events_.back()));
    }
    C10_CUDA_CHECK(cudaEventRecord(events_[used_], stream()));
    return used_++;
  }
  std::vector<double> resolve() override {
    c10::cuda::CUDAGuard guard(device_);
    std::vector<double> us;
    for (size_t i = 0; i < used_; ++i) {
      float ms = 0;
      C10_CUDA_CHECK(cudaEventSynchronize(events_[i]));  // a host sync: once a window
      C10_CUDA_CHECK(cudaEventElapsedTime(&ms, origin_, events_[i]));
      us.push_back(double(ms) * 1000.0);
    }
    used_ = 0;
    return us;
  }

 private:
  c10::cuda::CUDAStream stream() const { return c10::cuda::getCurrentCUDAStream(device_.index()); }

  torch::Device device_;
  cudaEvent_t origin_ = nullptr;
  std::vector<cudaEvent_t> events_;  // reused from window to window
  size_t used_ = 0;
};

}  // namespace

std::unique_ptr<TraceClock> make_trace_clock(const torch::Device& device) {
  if (device.is_cuda()) return std::make_unique<CudaEventClock>(device);
  return make_host_clock();
}

}  // namespace nin::monitor
