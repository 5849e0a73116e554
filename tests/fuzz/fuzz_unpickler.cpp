// data.pkl alone through the restricted unpickler, with storages of the size the pickle asks for.
#include <stdexcept>

#include <torch/types.h>

#include "format/unpickler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr int64_t kMaxNumel = 1 << 16;  // elements: a storage's size is checked by its record in import
  try {
    nin::format::unpickle(std::string(reinterpret_cast<const char*>(data), size),
                          [](const std::string&, c10::ScalarType dtype, int64_t numel) {
                            if (numel < 0 || numel > kMaxNumel) throw std::runtime_error("storage too large");
                            return torch::zeros({numel}, torch::dtype(dtype));
                          });
  } catch (const std::runtime_error&) {
  } catch (const c10::Error&) {
  }
  return 0;
}
