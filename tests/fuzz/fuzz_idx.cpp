// IDX files, raw and gzip (detected by content), through the reader the trainer calls.
#include "data/idx.h"
#include "fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nin::fuzz::as_file(data, size);
  for (int64_t dims : {1, 3}) {  // labels and images
    try {
      nin::data::read_idx_u8(path, dims);
    } catch (const nin::InputError&) {
    }
  }
  return 0;
}
