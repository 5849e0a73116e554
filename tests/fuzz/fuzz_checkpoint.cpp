// .nin checkpoints: the header (magic, version, length, XXH64) and the safetensors payload.
#include "format/checkpoint_file.h"
#include "format/safetensors.h"
#include "fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nin::fuzz::as_file(data, size, ".nin");
  try {
    const auto payload = nin::format::read_checkpoint_file(path);
    if (payload.version == nin::format::kCheckpointVersion) nin::format::decode_safetensors(payload.bytes, path);
  } catch (const nin::InputError&) {
  }
  // The payload alone, so that a mutated header does not hide it behind the checksum.
  try {
    nin::format::decode_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "payload");
  } catch (const nin::InputError&) {
  }
  return 0;
}
