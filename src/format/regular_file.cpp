#include "format/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"
#include "util/input_limit.h"

namespace nin::format {

std::string read_regular_file(const std::filesystem::path& path, const std::string& what, uint64_t max_bytes) {
  const std::string name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO must not block the open
  if (fd < 0) throw InputError(name + ": " + what + " not found or not readable (" + std::strerror(errno) + ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw InputError(name + ": " + what + " is not a regular file (a FIFO, device or folder); refused");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw InputError(name + ": " + what + " of " + std::to_string(st.st_size) + " bytes exceeds the limit of " +
                     std::to_string(max_bytes) + " (" + kMaxInputBytesEnv + ")");
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw InputError(name + ": cannot read " + what + ": " + std::strerror(errno));
    if (r == 0) break;  // shrank while read: the checks below see a short file
    done += static_cast<size_t>(r);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace nin::format
