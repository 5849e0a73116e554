#include "format/zip.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <caffe2/serialize/inline_container.h>
#include <zlib.h>

#include "format/regular_file.h"
#include "util/input_limit.h"

namespace nin::format {
namespace {

// Zip record signatures and sizes (APPNOTE.TXT 4.3): end of central directory, its zip64
// form and locator, and a central directory file header.
constexpr uint32_t kEndSig = 0x06054b50, kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50, kCentralSig = 0x02014b50;
constexpr size_t kEndSize = 22, kLocator64Size = 20, kEnd64Size = 56, kCentralSize = 46;  // bytes
constexpr size_t kMaxComment = 0xffff;                                                     // bytes
// The archive, and all its entries together once inflated: 500x a NiN state dict's.
constexpr uint64_t kMaxArchiveBytes = uint64_t{4} << 30;

uint64_t le(const std::string& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// The sizes an entry's central header claims (zip64 ones from its extra field), checked
// against the file before PyTorch's reader allocates the entry: the bytes must be in the
// file, a stored entry holds as many bytes as it claims, and deflate expands at most 1032:1.
// Returns the entry's size once inflated.
uint64_t check_sizes(const std::string& b, size_t at, const std::string& name, size_t extra_len) {
  constexpr uint64_t kMax32 = 0xffffffff, kDeflateRatio = 1032;
  const uint64_t method = le(b, at + 10, 2);
  uint64_t packed = le(b, at + 20, 4), size = le(b, at + 24, 4);
  for (size_t e = at + kCentralSize + le(b, at + 28, 2), end = e + extra_len; end - e >= 4;) {
    const uint64_t id = le(b, e, 2), len = le(b, e + 2, 2);
    if (len > end - e - 4) break;
    if (id == 1) {  // zip64: the 64-bit sizes, in this order, of the fields set to 0xffffffff
      size_t f = e + 4;
      if (size == kMax32 && f + 8 <= e + 4 + len) size = le(b, f, 8), f += 8;
      if (packed == kMax32 && f + 8 <= e + 4 + len) packed = le(b, f, 8);
    }
    e += 4 + len;
  }
  const auto refuse = [&](const std::string& why) { throw std::runtime_error("entry '" + name + "' " + why); };
  if (packed > b.size())
    refuse("claims " + std::to_string(packed) + " bytes, more than the " + std::to_string(b.size()) + "-byte file");
  if (method == 0 && size != packed)
    refuse("is stored in " + std::to_string(packed) + " bytes but claims " + std::to_string(size));
  if (method != 0 && size / kDeflateRatio > packed)
    refuse("claims " + std::to_string(size) + " bytes from " + std::to_string(packed) + " compressed ones");
  return size;
}

}  // namespace

std::map<std::string, uint32_t> zip_crcs(const std::string& b) {
  const size_t n = b.size();
  if (n < kEndSize) throw std::runtime_error("too short for a zip archive");
  size_t end = n - kEndSize + 1;  // the end record is the last one, before a comment of at most 64 KiB
  do {
    --end;
  } while (end > 0 && n - end - kEndSize <= kMaxComment && le(b, end, 4) != kEndSig);
  if (le(b, end, 4) != kEndSig) throw std::runtime_error("no end of central directory");
  uint64_t count = le(b, end + 10, 2), dir_size = le(b, end + 12, 4), dir_at = le(b, end + 16, 4);
  if (end >= kLocator64Size && le(b, end - kLocator64Size, 4) == kLocator64Sig) {  // zip64: the real values
    const uint64_t at = le(b, end - kLocator64Size + 8, 8);
    if (at > n || n - at < kEnd64Size || le(b, at, 4) != kEnd64Sig)
      throw std::runtime_error("zip64 end of central directory out of the file");
    count = le(b, at + 32, 8), dir_size = le(b, at + 40, 8), dir_at = le(b, at + 48, 8);
  }
  if (dir_at > n || dir_size > n - dir_at || count > dir_size / kCentralSize)
    throw std::runtime_error("central directory (" + std::to_string(count) + " entries, " + std::to_string(dir_size) +
                             " bytes at " + std::to_string(dir_at) + ") does not fit in the " + std::to_string(n) +
                             "-byte file");
  std::map<std::string, uint32_t> crcs;
  const uint64_t limit = input_limit(kMaxArchiveBytes);
  uint64_t inflated = 0;  // bytes, every entry so far: an absolute cap, not only a ratio
  size_t at = dir_at;
  const size_t dir_end = dir_at + dir_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (dir_end - at < kCentralSize || le(b, at, 4) != kCentralSig)
      throw std::runtime_error("central directory entry " + std::to_string(i) + " is damaged");
    const size_t name_len = le(b, at + 28, 2), extra_len = le(b, at + 30, 2), comment_len = le(b, at + 32, 2);
    if (dir_end - at - kCentralSize < name_len + extra_len + comment_len)
      throw std::runtime_error("central directory entry " + std::to_string(i) + " runs past the directory");
    std::string name = b.substr(at + kCentralSize, name_len);
    inflated += check_sizes(b, at, name, extra_len);  // each at most 1032x the file: no overflow
    if (inflated > limit)
      throw std::runtime_error("entries up to '" + name + "' hold " + std::to_string(inflated) +
                               " bytes once inflated, above the limit of " + std::to_string(limit) + " (" +
                               kMaxInputBytesEnv + ")");
    const size_t slash = name.find('/');  // PyTorch's reader names a record without the top folder
    if (slash != std::string::npos) name.erase(0, slash + 1);
    crcs[name] = static_cast<uint32_t>(le(b, at + 16, 4));
    at += kCentralSize + name_len + extra_len + comment_len;
  }
  return crcs;
}

std::string zip_archive(const std::vector<ZipRecord>& records) {
  std::string archive;
  {  // the writer appends to `archive` until it is gone
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
      archive.append(static_cast<const char*>(data), n);
      return n;
    });
    for (const auto& r : records) writer.writeRecord(r.name, r.data, r.size);
    writer.writeEndOfFile();
  }
  return archive;
}

ZipReader::ZipReader(const std::filesystem::path& path) {
  // Our checked reading of the central directory first: a damaged one never reaches PyTorch's
  // reader (whose constructor leaks what it allocated when it throws, in LibTorch 1.13).
  const auto crcs = zip_crcs(read_regular_file(path, "torch.save archive", input_limit(kMaxArchiveBytes)));
  reader_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path.string());
  for (const auto& [name, recorded] : crcs) {
    if (name.empty() || name.back() == '/') continue;  // a folder entry holds no bytes
    if (!reader_->hasRecord(name)) throw std::runtime_error("entry '" + name + "' is not readable");
    auto [data, size] = reader_->getRecord(name);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t done = 0; done < size;) {  // zlib's crc32 takes at most 4 GiB at once
      const size_t chunk = std::min<size_t>(size - done, 1u << 30);
      crc = crc32(crc, static_cast<const Bytef*>(data.get()) + done, static_cast<uInt>(chunk));
      done += chunk;
    }
    if (static_cast<uint32_t>(crc) != recorded) {
      std::ostringstream msg;
      msg << "entry '" << name << "' is damaged: its CRC-32 is " << std::hex << crc << ", the archive records "
          << recorded;
      throw std::runtime_error(msg.str());
    }
  }
}

ZipReader::~ZipReader() = default;

bool ZipReader::has(const std::string& name) { return reader_->hasRecord(name); }

std::string ZipReader::text(const std::string& name) {
  auto [data, size] = reader_->getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

ZipReader::Record ZipReader::record(const std::string& name) {
  auto [data, size] = reader_->getRecord(name);
  return {std::move(data), size};
}

}  // namespace nin::format
