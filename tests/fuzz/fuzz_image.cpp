// PNG and PGM images through the reader `nin-dist predict` calls (told apart by their first bytes).
#include "app/image.h"
#include "fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nin::fuzz::as_file(data, size, ".png");
  try {
    nin::app::read_image(path);
  } catch (const nin::InputError&) {
  }
  return 0;
}
