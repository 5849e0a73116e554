#include "format/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace nin::format {
namespace fs = std::filesystem;
namespace {

// `err` is errno, saved by the caller right after the failing call, before anything can change it.
std::runtime_error sys_error(int err, const std::string& action, const fs::path& path) {
  return std::runtime_error("cannot " + action + " " + path.string() + ": " + std::strerror(err));
}

// The temporary file beside the target: removed when it goes out of scope unless renamed.
class TempFile {
 public:
  TempFile(fs::path path, std::string what) : path_(std::move(path)), what_(std::move(what)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw sys_error(errno, "create " + what_, path_);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }

  void write(std::string_view bytes) {
    const char* data = bytes.data();
    size_t n = bytes.size();
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw sys_error(errno, "write " + what_, path_);
      data += w;
      n -= static_cast<size_t>(w);
    }
  }

  void sync_and_close() {
    if (::fsync(fd_) != 0) throw sys_error(errno, "flush " + what_, path_);
    const int fd = fd_;
    fd_ = -1;  // closed even when close reports an error: never close it twice
    if (::close(fd) != 0) throw sys_error(errno, "close " + what_, path_);
  }

  void rename_to(const fs::path& target) {
    if (::rename(path_.c_str(), target.c_str()) != 0) throw sys_error(errno, "rename " + what_ + " to", target);
    renamed_ = true;
  }

 private:
  fs::path path_;
  std::string what_;
  int fd_ = -1;
  bool renamed_ = false;
};

// Best effort: the file itself is already safe, and some file systems refuse to fsync a folder.
void sync_folder_of(const fs::path& path) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_atomically(const fs::path& path, std::initializer_list<std::string_view> parts, const std::string& what) {
  TempFile tmp(path.string() + ".tmp", what);
  for (const std::string_view part : parts) tmp.write(part);
  tmp.sync_and_close();
  tmp.rename_to(path);
  sync_folder_of(path);  // the rename is durable only once the folder's entry is on disk
}

}  // namespace nin::format
