// PyTorch state dicts as `nin-dist import` reads them: zip archive, CRC-32s, restricted unpickler.
#include "format/torch_save.h"
#include "fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nin::fuzz::as_file(data, size, ".pt");
  try {
    nin::format::load_state_dict(path);
  } catch (const nin::InputError&) {
  }
  return 0;
}
