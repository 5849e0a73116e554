// IDX reader: header checks, then the data read straight into the tensor's memory.
#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "util/error.h"
#include "util/input_limit.h"

namespace nin::data {
namespace {

constexpr int kDtypeU8 = 0x08;               // IDX code for unsigned byte
constexpr unsigned kChunk = 1u << 30;        // bytes per gzread call (it takes an unsigned)
constexpr unsigned kGzBuffer = 1u << 17;     // bytes, zlib's read buffer
constexpr uint64_t kMaxDeflateRatio = 1100;  // deflate tops out near 1032:1; margin on top
// bytes of data, whatever the file's size: 40x FashionMNIST's training images (47 MB)
constexpr uint64_t kMaxIdxBytes = uint64_t{2} << 30;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// zlib's error for `f` without the "path: " zlib puts in front, or "" when all is well.
std::string gz_error(const std::string& path, gzFile f, int* code = nullptr) {
  int c = Z_OK;
  std::string msg = gzerror(f, &c);
  if (code) *code = c;
  if (c == Z_OK) return "";
  if (c == Z_ERRNO) return std::strerror(errno);
  if (msg.rfind(path + ": ", 0) == 0) msg.erase(0, path.size() + 2);
  return msg;
}

// Reads up to `n` bytes into `dst`; returns how many came (fewer at end of stream or error).
uint64_t read_some(gzFile f, void* dst, uint64_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  uint64_t got = 0;
  while (got < n) {
    const unsigned want = static_cast<unsigned>(std::min<uint64_t>(n - got, kChunk));
    const int r = gzread(f, out + got, want);
    if (r <= 0) break;
    got += static_cast<uint64_t>(r);
  }
  return got;
}

// Counts what is left in the stream without keeping it (for the truncation message).
uint64_t count_rest(gzFile f) {
  std::vector<unsigned char> scratch(kGzBuffer);
  uint64_t total = 0;
  for (uint64_t r; (r = read_some(f, scratch.data(), scratch.size())) > 0;) total += r;
  return total;
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::ostringstream s;
  for (size_t i = 0; i < dims.size(); ++i) s << (i ? "x" : "") << dims[i];
  return s.str();
}

// After a short read: a corrupt stream is reported as such; a .gz that simply ends early
// (Z_BUF_ERROR) is a truncation, and the returned suffix says what zlib saw.
std::string short_read_suffix(const std::string& path, gzFile f) {
  int code = Z_OK;
  const std::string e = gz_error(path, f, &code);
  if (code == Z_OK) return "";
  if (code != Z_BUF_ERROR) fail(path, (gzdirect(f) ? "read error: " : "corrupt gzip stream: ") + e);
  return " (gzip: " + e + ")";
}

// Checks magic, dtype and rank; returns the dimensions. Leaves `f` at the first data byte.
std::vector<int64_t> read_header(const std::string& path, gzFile f, int64_t expected_dims) {
  // Magic: two zero bytes, the dtype code, the number of dimensions.
  unsigned char magic[4];
  const uint64_t got_magic = read_some(f, magic, sizeof magic);
  if (got_magic < sizeof magic) {
    const std::string why = short_read_suffix(path, f);
    if (got_magic == 0 && why.empty()) fail(path, "empty file (no data after decompression)");
    fail(path, "truncated: shorter than the 4-byte IDX magic" + why);
  }
  if (magic[0] != 0 || magic[1] != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%02x%02x%02x%02x", magic[0], magic[1], magic[2], magic[3]);
    fail(path, std::string("bad magic ") + hex + ": not an IDX file (first two bytes must be 0)");
  }
  if (magic[2] != kDtypeU8) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", magic[2]);
    fail(path, std::string("wrong dtype ") + hex + ": expected 0x08 (unsigned byte)");
  }
  if (magic[3] != expected_dims) {
    fail(path, "wrong number of dimensions: file has " + std::to_string(magic[3]) + ", expected " +
                   std::to_string(expected_dims));
  }

  // Dimensions: big-endian uint32 each.
  std::vector<unsigned char> raw_dims(4 * static_cast<size_t>(expected_dims));
  if (read_some(f, raw_dims.data(), raw_dims.size()) < raw_dims.size()) {
    fail(path, "truncated: header announces " + std::to_string(expected_dims) +
                   " dimensions but ends early" + short_read_suffix(path, f));
  }
  std::vector<int64_t> dims(static_cast<size_t>(expected_dims));
  for (size_t i = 0; i < dims.size(); ++i) {
    const unsigned char* b = &raw_dims[4 * i];
    dims[i] = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
  }
  return dims;
}

// The size in bytes of the regular, non-empty file at `path`; anything else is refused by name.
uint64_t regular_file_size(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) fail(path, "cannot open: no such file");
  if (fs::is_directory(status)) fail(path, "cannot open: is a directory");
  if (!fs::is_regular_file(status)) fail(path, "not a regular file (a FIFO or device); refused");
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot open: " + ec.message());
  if (file_size == 0) fail(path, "empty file");
  return file_size;
}

}  // namespace

torch::Tensor read_idx_u8(const std::string& path, int64_t expected_dims) {
  if (expected_dims < 1 || expected_dims > 255) {
    throw std::invalid_argument("read_idx_u8: expected_dims must be in 1..255");
  }
  const uint64_t file_size = regular_file_size(path);

  // gzopen reads gzip when the file starts with 1f 8b and passes other files through as-is.
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) fail(path, std::string("cannot open: ") + std::strerror(errno));
  gzbuffer(file.get(), kGzBuffer);
  gzFile f = file.get();

  const std::vector<int64_t> dims = read_header(path, f, expected_dims);
  uint64_t bytes = 1;
  bool overflow = false;
  for (const int64_t d : dims) {
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && bytes > std::numeric_limits<uint64_t>::max() / u) overflow = true;
    bytes *= u;
  }
  const std::string announced = "header says " + shape_text(dims) + " = " +
                                (overflow ? "too many" : std::to_string(bytes)) + " bytes of data";

  // An upper bound on what the file can hold, so a corrupt header never allocates gigabytes.
  const uint64_t header_bytes = 4 + 4 * dims.size();  // magic, then one uint32 per dim
  const uint64_t most =
      gzdirect(f) ? file_size - std::min(file_size, header_bytes) : file_size * kMaxDeflateRatio;
  if (overflow || bytes > most) {
    const uint64_t found = count_rest(f);
    fail(path, "truncated: " + announced + ", found " + std::to_string(found) +
                   short_read_suffix(path, f));
  }
  if (const uint64_t limit = input_limit(kMaxIdxBytes); bytes > limit)
    fail(path, announced + ", above the limit of " + std::to_string(limit) + " bytes (" + kMaxInputBytesEnv + ")");

  torch::Tensor out = torch::empty(dims, torch::kUInt8);
  const uint64_t found = read_some(f, out.data_ptr<uint8_t>(), bytes);
  if (found < bytes) {
    fail(path, "truncated: " + announced + ", found " + std::to_string(found) +
                   short_read_suffix(path, f));
  }
  unsigned char extra;
  if (read_some(f, &extra, 1) > 0) {
    fail(path,
         "trailing bytes: " + announced + ", found " + std::to_string(bytes + 1 + count_rest(f)));
  }
  // A stream cut inside the gzip trailer, or a CRC mismatch, only shows up now.
  int code = Z_OK;
  if (const std::string e = gz_error(path, f, &code); !e.empty()) {
    fail(path, (code == Z_BUF_ERROR ? "truncated gzip stream: " : "corrupt gzip stream: ") + e);
  }
  return out;
}

}  // namespace nin::data
