#include "format/checkpoint_file.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <xxhash.h>

#include "format/atomic_file.h"
#include "util/error.h"

namespace nin::format {
namespace {

// The header: every field at a fixed byte offset, in host byte order (little-endian on
// every machine we run on). These offsets are the file format: old checkpoints must read.
constexpr char kMagic[8] = {'N', 'I', 'N', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kVersionAt = sizeof kMagic;                   // uint32_t
constexpr size_t kLengthAt = kVersionAt + sizeof(uint32_t);    // uint64_t: payload bytes
constexpr size_t kChecksumAt = kLengthAt + sizeof(uint64_t);   // uint64_t: XXH64 of the payload, seed 0
constexpr size_t kHeaderBytes = kChecksumAt + sizeof(uint64_t);
static_assert(kHeaderBytes == 28, "the header layout is the checkpoint format");

struct Header {
  uint32_t version = kVersion;
  uint64_t length = 0;
  uint64_t checksum = 0;
};

std::string encode(const Header& h) {
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  std::memcpy(out.data() + kVersionAt, &h.version, sizeof h.version);
  std::memcpy(out.data() + kLengthAt, &h.length, sizeof h.length);
  std::memcpy(out.data() + kChecksumAt, &h.checksum, sizeof h.checksum);
  return out;
}

// `bytes` holds at least kHeaderBytes.
Header decode(const std::string& bytes) {
  Header h;
  std::memcpy(&h.version, bytes.data() + kVersionAt, sizeof h.version);
  std::memcpy(&h.length, bytes.data() + kLengthAt, sizeof h.length);
  std::memcpy(&h.checksum, bytes.data() + kChecksumAt, sizeof h.checksum);
  return h;
}

}  // namespace

void write_checkpoint_file(const std::filesystem::path& path, std::string_view payload) {
  const std::string header = encode({kVersion, payload.size(), XXH64(payload.data(), payload.size(), /*seed=*/0)});
  try {
    write_atomically(path, {header, payload}, "checkpoint");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (older checkpoints are intact)");
  }
}

std::string read_checkpoint_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(name + ": checkpoint not found or not readable");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < kHeaderBytes)
    throw InputError(name + ": not a nin-dist checkpoint (" + std::to_string(bytes.size()) + " bytes, truncated)");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw InputError(name + ": not a nin-dist checkpoint (bad magic)");
  const Header h = decode(bytes);
  if (h.version != kVersion)
    throw InputError(name + ": checkpoint version " + std::to_string(h.version) + ", this build reads version " +
                     std::to_string(kVersion));
  if (bytes.size() - kHeaderBytes != h.length)
    throw InputError(name + ": truncated checkpoint: header says " + std::to_string(h.length) +
                     " bytes of payload, found " + std::to_string(bytes.size() - kHeaderBytes));
  if (XXH64(bytes.data() + kHeaderBytes, h.length, 0) != h.checksum)
    throw InputError(name + ": corrupt checkpoint: XXH64 checksum mismatch");
  bytes.erase(0, kHeaderBytes);  // in place: a checkpoint may be tens of MB
  return bytes;
}

}  // namespace nin::format
