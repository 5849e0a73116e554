// Exits 0 when LibTorch's profiler has Kineto: only then can it save a Chrome trace (argv[1]).
// Compiled and run by cmake/TorchKineto.cmake at configure time.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/profiler_kineto.h>

int main(int argc, char** argv) {
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  if (argc < 2) return 2;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  try {
    prof::prepareProfiler(config, {ActivityType::CPU});
    prof::enableProfiler(config, {ActivityType::CPU});
    (void)at::ones({4}).sum();  // one op to record
    prof::disableProfiler()->save(argv[1]);  // without Kineto: c10::Error "...requires Kineto"
  } catch (const c10::Error&) {
    return 1;
  }
  return 0;
}
