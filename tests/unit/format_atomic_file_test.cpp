// Atomic writes: the new content or the old one, never a partial file or a stray temporary.
#include <gtest/gtest.h>

#include <filesystem>
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

}  // namespace

TEST(FormatAtomicFile, WritesThePartsInOrderAndReplacesTheOldFile) {
  const auto dir = fresh_dir("atomic-replace");
  const std::string binary("a\0b", 3);
  write_atomically(dir / "f", {"head-", binary, "", "-tail"}, "test file");
  EXPECT_EQ(read_bytes(dir / "f"), "head-" + binary + "-tail");
  write_atomically(dir / "f", {"new"}, "test file");
  EXPECT_EQ(read_bytes(dir / "f"), "new");
  EXPECT_FALSE(fs::exists(dir / "f.tmp"));
}

TEST(FormatAtomicFile, MissingFolderNamesTheFileAndTheReason) {
  const auto dir = fresh_dir("atomic-missing");
  const auto msg = runtime_error_of([&] { write_atomically(dir / "absent" / "f", {"x"}, "test file"); });
  EXPECT_EQ(msg, "cannot create test file " + (dir / "absent" / "f.tmp").string() + ": No such file or directory");
}

TEST(FormatAtomicFile, FailedRenameLeavesTheOldTargetAndNoTemporary) {
  // A folder in the target's place: the temporary file is written, the rename fails.
  const auto dir = fresh_dir("atomic-rename");
  fs::create_directories(dir / "f" / "inside");
  std::ofstream(dir / "f" / "inside" / "old") << "old";
  const auto msg = runtime_error_of([&] { write_atomically(dir / "f", {"new"}, "test file"); });
  EXPECT_EQ(msg.rfind("cannot rename test file to " + (dir / "f").string() + ": ", 0), 0u) << msg;
  EXPECT_EQ(read_bytes(dir / "f" / "inside" / "old"), "old");
  EXPECT_FALSE(fs::exists(dir / "f.tmp"));
}

TEST(FormatAtomicFile, FailedWriteLeavesTheOldFileIntact) {
  // /dev/full takes the open but fails every write with ENOSPC: a full disk on demand.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const auto dir = fresh_dir("atomic-full");
  std::ofstream(dir / "f") << "old";
  fs::create_symlink("/dev/full", dir / "f.tmp");
  const auto msg = runtime_error_of([&] { write_atomically(dir / "f", {"new"}, "test file"); });
  EXPECT_EQ(msg, "cannot write test file " + (dir / "f.tmp").string() + ": No space left on device");
  EXPECT_EQ(read_bytes(dir / "f"), "old");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "f.tmp")));
}
