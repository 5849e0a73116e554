// The zip archive alone: the central directory read for CRC-32s, then PyTorch's reader.
#include <stdexcept>

#include <c10/util/Exception.h>

#include "format/zip.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    nin::format::zip_crcs(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const std::runtime_error&) {
  }
  const std::string path = nin::fuzz::as_file(data, size, ".zip");
  try {
    nin::format::ZipReader zip(path);
    if (zip.has("data.pkl")) zip.text("data.pkl");
  } catch (const c10::Error&) {
  } catch (const std::runtime_error&) {
  }
  return 0;
}
