// Torch dtypes onto NCCL's: the one dtype table of the NCCL backend (CPU LibTorch suffices).
#pragma once

#include <stdexcept>
#include <string>

#include <c10/core/ScalarType.h>
#include <nccl.h>

namespace nin::dist {

// The dtypes the NCCL backend reduces; std::invalid_argument names any other.
inline ncclDataType_t to_nccl(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float: return ncclFloat32;
    case c10::ScalarType::Double: return ncclFloat64;
    case c10::ScalarType::BFloat16: return ncclBfloat16;
    case c10::ScalarType::Half: return ncclFloat16;
    case c10::ScalarType::Int: return ncclInt32;
    case c10::ScalarType::Long: return ncclInt64;
    case c10::ScalarType::Byte: return ncclUint8;
    default: break;
  }
  throw std::invalid_argument(std::string("NCCL backend: unsupported dtype ") + c10::toString(type));
}

}  // namespace nin::dist
