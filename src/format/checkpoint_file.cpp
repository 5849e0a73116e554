#include "format/checkpoint_file.h"


#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <xxhash.h>

#include "format/atomic_file.h"
#include "format/regular_file.h"
#include "util/error.h"
#include "util/input_limit.h"

namespace nin::format {
namespace {

// The header: every field at a fixed byte offset, in host byte order (little-endian on
// every machine we run on). These offsets are the file format: old checkpoints must read.
constexpr char kMagic[8] = {'N', 'I', 'N', 'C', 'K', 'P', 'T', '\0'};
constexpr size_t kVersionAt = sizeof kMagic;                   // uint32_t
constexpr size_t kLengthAt = kVersionAt + sizeof(uint32_t);    // uint64_t: payload bytes
constexpr size_t kChecksumAt = kLengthAt + sizeof(uint64_t);   // uint64_t: XXH64 of the payload, seed 0
constexpr size_t kTagAt = kChecksumAt + sizeof(uint64_t);      // version 2: 32 bytes, HMAC-SHA256; zeros = unsigned
constexpr size_t kTagBytes = 32;
static_assert(kTagAt == 28, "the header layout is the checkpoint format");

constexpr uint64_t kMaxCheckpointBytes = uint64_t{16} << 30;  // far above any NiN's, far below a bogus length

size_t header_bytes(uint32_t version) { return version == kLegacyCheckpointVersion ? kTagAt : kTagAt + kTagBytes; }

// HMAC-SHA256 of `payload` under NIN_CHECKPOINT_KEY; all zeros when the key is unset.
std::string tag_of(std::string_view payload) {
  std::string tag(kTagBytes, '\0');
  const char* key = std::getenv(kCheckpointKeyEnv);
  if (!key || !*key) return tag;
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key, static_cast<int>(std::strlen(key)), reinterpret_cast<const unsigned char*>(payload.data()),
            payload.size(), reinterpret_cast<unsigned char*>(tag.data()), &n) || n != kTagBytes)
    throw std::runtime_error("HMAC-SHA256 failed");
  return tag;
}

bool has_key() {
  const char* key = std::getenv(kCheckpointKeyEnv);
  return key && *key;
}

}  // namespace

void write_checkpoint_file(const std::filesystem::path& path, std::string_view payload, Existing existing) {
  std::string header(kTagAt, '\0');
  const uint32_t version = kCheckpointVersion;
  const uint64_t length = payload.size(), checksum = XXH64(payload.data(), payload.size(), /*seed=*/0);
  std::memcpy(header.data(), kMagic, sizeof kMagic);
  std::memcpy(header.data() + kVersionAt, &version, sizeof version);
  std::memcpy(header.data() + kLengthAt, &length, sizeof length);
  std::memcpy(header.data() + kChecksumAt, &checksum, sizeof checksum);
  header += tag_of(payload);
  try {
    write_atomically(path, {header, payload}, "checkpoint", existing);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (older checkpoints are intact)");
  }
}

CheckpointPayload read_checkpoint_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::string bytes = read_regular_file(path, "checkpoint", input_limit(kMaxCheckpointBytes));
  if (bytes.size() < kTagAt)
    throw InputError(name + ": not a nin-dist checkpoint (" + std::to_string(bytes.size()) + " bytes, truncated)");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw InputError(name + ": not a nin-dist checkpoint (bad magic)");
  CheckpointPayload out;
  uint64_t length = 0;
  std::memcpy(&out.version, bytes.data() + kVersionAt, sizeof out.version);
  std::memcpy(&length, bytes.data() + kLengthAt, sizeof length);
  std::memcpy(&out.checksum, bytes.data() + kChecksumAt, sizeof out.checksum);
  if (out.version != kCheckpointVersion && out.version != kLegacyCheckpointVersion)
    throw InputError(name + ": checkpoint version " + std::to_string(out.version) + ", this build reads versions " +
                     std::to_string(kLegacyCheckpointVersion) + " and " + std::to_string(kCheckpointVersion));
  const size_t head = header_bytes(out.version);
  if (bytes.size() < head || bytes.size() - head != length)
    throw InputError(name + ": truncated checkpoint: header says " + std::to_string(length) +
                     " bytes of payload, found " + std::to_string(bytes.size() - std::min(head, bytes.size())));
  const std::string_view payload(bytes.data() + head, length);
  if (XXH64(payload.data(), payload.size(), 0) != out.checksum)
    throw InputError(name + ": corrupt checkpoint: XXH64 checksum mismatch");
  if (has_key()) {
    const std::string want = tag_of(payload);
    if (out.version == kLegacyCheckpointVersion ||
        CRYPTO_memcmp(want.data(), bytes.data() + kTagAt, kTagBytes) != 0)
      throw InputError(name + ": checkpoint is not signed with " + std::string(kCheckpointKeyEnv) +
                       " (HMAC-SHA256 tag missing or wrong); refused");
  }
  bytes.erase(0, head);  // in place: a checkpoint may be tens of MB
  out.bytes = std::move(bytes);
  return out;
}

}  // namespace nin::format
