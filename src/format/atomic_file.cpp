#include "format/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
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

// A fresh temporary file beside `target`: removed when it goes out of scope unless committed.
class TempFile {
 public:
  TempFile(const fs::path& target, std::string what) : what_(std::move(what)) {
    std::string name = target.string() + ".tmp-XXXXXX";
    fd_ = ::mkostemp(name.data(), O_CLOEXEC);  // O_EXCL: a planted file or symlink is never opened
    if (fd_ < 0) throw sys_error(errno, "create " + what_, target);
    path_ = name;
    if (::fchmod(fd_, 0640) != 0) throw sys_error(errno, "create " + what_, path_);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
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
    committed_ = true;
  }

  // link() fails with EEXIST where rename() would replace: the target is created exclusively.
  void link_to(const fs::path& target) {
    if (::link(path_.c_str(), target.c_str()) != 0) throw sys_error(errno, "create " + what_, target);
    ::unlink(path_.c_str());
    committed_ = true;
  }

 private:
  fs::path path_;
  std::string what_;
  int fd_ = -1;
  bool committed_ = false;
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

void write_atomically(const fs::path& path, std::initializer_list<std::string_view> parts, const std::string& what,
                      Existing existing) {
  TempFile tmp(path, what);
  for (const std::string_view part : parts) tmp.write(part);
  tmp.sync_and_close();
  if (existing == Existing::kReplace) tmp.rename_to(path);
  else tmp.link_to(path);
  sync_folder_of(path);  // the rename is durable only once the folder's entry is on disk
}

}  // namespace nin::format
