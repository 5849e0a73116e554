// Atomic writes: the new content or the old one, never a partial file or a stray temporary.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "format/atomic_file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nin::format::write_atomically;
using nin::test::fresh_dir;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The message of the std::runtime_error that `f` throws, or "" when it throws none.
template <typename F>
std::string runtime_error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Whether `dir` holds anything but `names`: a temporary file left behind.
bool only(const fs::path& dir, std::set<std::string> names) {
  for (const auto& e : fs::directory_iterator(dir))
    if (!names.erase(e.path().filename().string())) return false;
  return names.empty();
}

}  // namespace

TEST(FormatAtomicFile, WritesThePartsInOrderAndReplacesTheOldFile) {
  const auto dir = fresh_dir("atomic-replace");
  const std::string binary("a\0b", 3);
  write_atomically(dir / "f", {"head-", binary, "", "-tail"}, "test file");
  EXPECT_EQ(read_bytes(dir / "f"), "head-" + binary + "-tail");
  write_atomically(dir / "f", {"new"}, "test file");
  EXPECT_EQ(read_bytes(dir / "f"), "new");
  EXPECT_TRUE(only(dir, {"f"}));
}

TEST(FormatAtomicFile, MissingFolderNamesTheFileAndTheReason) {
  const auto dir = fresh_dir("atomic-missing");
  const auto msg = runtime_error_of([&] { write_atomically(dir / "absent" / "f", {"x"}, "test file"); });
  EXPECT_EQ(msg, "cannot create test file " + (dir / "absent" / "f").string() + ": No such file or directory");
}

TEST(FormatAtomicFile, FailedRenameLeavesTheOldTargetAndNoTemporary) {
  // A folder in the target's place: the temporary file is written, the rename fails.
  const auto dir = fresh_dir("atomic-rename");
  fs::create_directories(dir / "f" / "inside");
  std::ofstream(dir / "f" / "inside" / "old") << "old";
  const auto msg = runtime_error_of([&] { write_atomically(dir / "f", {"new"}, "test file"); });
  EXPECT_EQ(msg.rfind("cannot rename test file to " + (dir / "f").string() + ": ", 0), 0u) << msg;
  EXPECT_EQ(read_bytes(dir / "f" / "inside" / "old"), "old");
  EXPECT_TRUE(only(dir, {"f"}));
}

TEST(FormatAtomicFile, FailedWriteLeavesTheOldFileIntact) {
  // A file size limit of 2 bytes makes the write fail with EFBIG: a full disk on demand.
  const auto dir = fresh_dir("atomic-full");
  std::ofstream(dir / "f") << "old";
  rlimit old{};
  ::getrlimit(RLIMIT_FSIZE, &old);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // else the signal ends the process
  rlimit tight = old;
  tight.rlim_cur = 2;
  ::setrlimit(RLIMIT_FSIZE, &tight);
  const auto msg = runtime_error_of([&] { write_atomically(dir / "f", {"new content"}, "test file"); });
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(msg.rfind("cannot write test file " + (dir / "f").string() + ".tmp-", 0), 0u) << msg;
  EXPECT_NE(msg.find(": File too large"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(dir / "f"), "old");
  EXPECT_TRUE(only(dir, {"f"}));
}

TEST(FormatAtomicFile, APlantedSymlinkIsNeverFollowed) {
  // The old temporary name, f.tmp, pointing at a file another user would have us overwrite.
  const auto dir = fresh_dir("atomic-symlink");
  std::ofstream(dir / "victim") << "victim";
  fs::create_symlink(dir / "victim", dir / "f.tmp");
  write_atomically(dir / "f", {"new"}, "test file");
  EXPECT_EQ(read_bytes(dir / "victim"), "victim");
  EXPECT_EQ(read_bytes(dir / "f"), "new");
  EXPECT_EQ(fs::status(dir / "f").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);  // 0640
}

TEST(FormatAtomicFile, RefuseKeepsAnExistingFile) {
  const auto dir = fresh_dir("atomic-refuse");
  std::ofstream(dir / "f") << "old";
  const auto msg = runtime_error_of(
      [&] { write_atomically(dir / "f", {"new"}, "test file", nin::format::Existing::kRefuse); });
  EXPECT_EQ(msg, "cannot create test file " + (dir / "f").string() + ": File exists");
  EXPECT_EQ(read_bytes(dir / "f"), "old");
  EXPECT_TRUE(only(dir, {"f"}));
  write_atomically(dir / "g", {"new"}, "test file", nin::format::Existing::kRefuse);
  EXPECT_EQ(read_bytes(dir / "g"), "new");
}
