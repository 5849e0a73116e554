#include "format/zip.h"

#include <caffe2/serialize/inline_container.h>

namespace nin::format {

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

ZipReader::ZipReader(const std::filesystem::path& path)
    : reader_(std::make_unique<caffe2::serialize::PyTorchStreamReader>(path.string())) {}

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
