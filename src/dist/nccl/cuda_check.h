// Check helpers for the CUDA runtime and NCCL: host, file:line and the library's own words.
#pragma once

#include <stdexcept>
#include <string>

#include <cuda_runtime.h>
#include <nccl.h>

#include "dist/where.h"

namespace nin::dist {

// A failed NCCL call; result() keeps the code so callers can tell a remote failure
// (ncclRemoteError) from a local bug.
class NcclError : public std::runtime_error {
 public:
  NcclError(const std::string& what, ncclResult_t result) : std::runtime_error(what), result_(result) {}
  ncclResult_t result() const { return result_; }

 private:
  ncclResult_t result_;
};

// A failed CUDA runtime call; error() keeps the code.
class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, cudaError_t error) : std::runtime_error(what), error_(error) {}
  cudaError_t error() const { return error_; }

 private:
  cudaError_t error_;
};

// What the user should look at for each ncclResult_t, one line.
inline const char* nccl_result_hint(ncclResult_t result) {
  switch (result) {
    case ncclSuccess:
      return "no error";
    case ncclUnhandledCudaError:
      return "a CUDA call inside NCCL failed: check the driver, the device (nvidia-smi) and free GPU memory";
    case ncclSystemError:
      return "check NCCL_SOCKET_IFNAME / NCCL_IB_* settings and that all ranks can reach each other";
    case ncclInternalError:
      return "an NCCL bug or memory corruption: rerun with NCCL_DEBUG=INFO and report it";
    case ncclInvalidArgument:
      return "a bad pointer, count, dtype or root was passed to NCCL: a bug in the caller";
    case ncclInvalidUsage:
      return "ranks disagree on the order or size of collectives, two ranks share a GPU, or the "
             "communicator was used after an error";
    case ncclRemoteError:
      return "a peer rank failed or the network dropped; see that rank's log";
    case ncclInProgress:
      return "the operation has not finished yet (non-blocking communicator): poll ncclCommGetAsyncError";
    default:
      return "not an ncclResult_t this build knows: NCCL headers and library differ?";
  }
}

// NCCL's own string for `result` plus the hint, e.g.
// "remote process exited or there was a network error; hint: a peer rank failed ...".
inline std::string describe_nccl_result(ncclResult_t result) {
  return std::string(ncclGetErrorString(result)) + "; hint: " + nccl_result_hint(result);
}

namespace detail {

inline std::string call_site(const char* call, const char* file, int line) {
  return std::string(call) + " failed at " + file + ":" + std::to_string(line) + " (host " + this_host() + "): ";
}

inline void check_cuda(cudaError_t error, const char* call, const char* file, int line) {
  if (error == cudaSuccess) return;
  (void)cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  throw CudaError(call_site(call, file, line) + cudaGetErrorString(error), error);
}

inline void check_nccl(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess) return;
  throw NcclError(call_site(call, file, line) + describe_nccl_result(result), result);
}

}  // namespace detail
}  // namespace nin::dist

// Throw CudaError / NcclError naming the call, file:line, host and the library's error string.
#define NIN_CUDA_CHECK(call) ::nin::dist::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define NIN_NCCL_CHECK(call) ::nin::dist::detail::check_nccl((call), #call, __FILE__, __LINE__)
