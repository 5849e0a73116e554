// The zip archive records of torch.save's format, through PyTorch's own zip writer and reader.
#pragma once

#include <cstddef>
#include <filesystem>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Allocator.h>

namespace caffe2::serialize {
class PyTorchStreamReader;
}

namespace nin::format {

// What every zip archive starts with (a local file header); torch.save's legacy format lacks it.
constexpr char kZipMagic[4] = {'P', 'K', '\x03', '\x04'};

// A record to store: its name in the archive and its bytes (not owned).
struct ZipRecord {
  std::string name;
  const void* data = nullptr;
  size_t size = 0;  // bytes
};

// The archive that holds `records` in order, laid out as torch.save lays it out (PyTorch's
// writer puts every record under archive/, aligns its data to 64 bytes and adds archive/version).
std::string zip_archive(const std::vector<ZipRecord>& records);

// The CRC-32 that the central directory of the zip archive `bytes` records for each entry,
// by the entry's name without its top folder (torch.save's archive/, as PyTorch's reader
// names records). std::runtime_error on a damaged directory; every offset and count read
// from the archive is checked against its size before it is used, and all entries together
// may hold at most 4 GiB once inflated (util/input_limit.h).
std::map<std::string, uint32_t> zip_crcs(const std::string& bytes);

// Reads the records of an archive written by torch.save; c10::Error on a damaged archive,
// std::runtime_error naming the entry when an entry's bytes fail the CRC-32 its archive
// records (PyTorch's reader does not check it: every entry is checked on opening), and
// InputError naming the path when it is not a regular file or holds more than 4 GiB.
class ZipReader {
 public:
  explicit ZipReader(const std::filesystem::path& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  bool has(const std::string& name);
  std::string text(const std::string& name);  // a small record's bytes, as a string
  struct Record {
    at::DataPtr data;
    size_t size = 0;  // bytes
  };
  Record record(const std::string& name);  // a record's bytes, without a copy

 private:
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
};

}  // namespace nin::format
