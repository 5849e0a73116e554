#include "run/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "rundir/paths.h"

#include "util/error.h"

namespace nin::run {

namespace {

// Whether `fd` is still the file `path` names: the holder before us removes the file as it
// ends, and a lock on a removed file guards nothing.
bool still_named(int fd, const std::filesystem::path& path) {
  struct stat held {}, named {};
  return ::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}

}  // namespace

RunLock::RunLock(const std::filesystem::path& dir) : path_(dir / rundir::kLock) {
  const auto& path = path_;
  int err = 0;  // flock's errno: another process holds the lock
  for (;;) {  // until the locked file is the one the name points to
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd_ < 0) throw InputError("cannot open the lock file " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      err = errno;
      break;
    }
    if (still_named(fd_, path)) break;
    ::close(fd_);  // removed by the holder that just ended: take the new file's lock
  }
  if (err != 0) {
    char holder[256] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    std::string who(holder, static_cast<size_t>(std::max<ssize_t>(n, 0)));
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw InputError("cannot lock " + path.string() + ": " + std::strerror(err));
    throw InputError("run directory " + dir.string() + " is in use by another job (host and pid: " +
                     (who.empty() ? "unknown" : who) + ", lock file " + path.string() +
                     "); two jobs must not write one run directory");
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string who = std::string(host) + " " + std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, who.data(), who.size(), 0) != static_cast<ssize_t>(who.size())) {
    // the lock holds all the same; only the message a second job would print is poorer
  }
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held: a job that opened it meanwhile sees it gone and retries
  ::close(fd_);             // releases the flock
}

}  // namespace nin::run
