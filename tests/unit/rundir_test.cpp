// The run directory's names: checkpoint names made and parsed by rundir, and the Python
// launcher's copy of their pattern (launch/nin_elastic/run_facts.py) held equal to them.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "rundir/paths.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nin::test::fresh_dir;

namespace {

// Names a checkpoint is not: short or long digits, a suffix or prefix, a letter for a digit.
const std::vector<std::string> kNearMisses = {
    "ckpt-step1234.nin",          "ckpt-step00000012345.nin", "ckpt-step0000001234.nin.tmp",
    "xckpt-step0000001234.nin",   "ckpt-step000000123a.nin",  "ckpt-step0000001234.NIN",
    "ckpt_step0000001234.nin",    "best.nin"};

// The output of `command`, and its exit status in `status`.
std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[512];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

}  // namespace

TEST(RunDirNames, CheckpointNamesSortByStepAndParseBack) {
  EXPECT_EQ(nin::rundir::checkpoint_name(1234), "ckpt-step0000001234.nin");
  for (const int64_t step : {int64_t{0}, int64_t{7}, int64_t{1720}, int64_t{9999999999}})
    EXPECT_EQ(nin::rundir::checkpoint_step(nin::rundir::checkpoint_name(step)), step);
  EXPECT_LT(nin::rundir::checkpoint_name(99), nin::rundir::checkpoint_name(100));  // zero-padded
  for (const auto& name : kNearMisses) EXPECT_FALSE(nin::rundir::checkpoint_step(name)) << name;
}

// The elastic launcher finds the newest checkpoint by its own regex: the same pattern, taking
// the names this side makes and refusing the near-misses.
TEST(RunDirNames, PythonLauncherPatternIsTheCppOne) {
  const auto dir = fresh_dir("rundir-python");
  std::ofstream(dir / "check.py") << "import sys\n"
                                     "sys.path.insert(0, sys.argv[1])\n"
                                     "from nin_elastic.run_facts import CHECKPOINT_NAME\n"
                                     "print(CHECKPOINT_NAME.pattern)\n"
                                     "for name in sys.argv[2:]:\n"
                                     "    print(name, 1 if CHECKPOINT_NAME.fullmatch(name) else 0)\n";
  std::vector<std::string> names = kNearMisses;
  for (const int64_t step : {int64_t{0}, int64_t{1234}, int64_t{9999999999}})
    names.push_back(nin::rundir::checkpoint_name(step));
  std::string command = "/usr/bin/python3 " + (dir / "check.py").string() + " " NIN_SOURCE_DIR "/launch";
  std::string expected = std::string(nin::rundir::kCheckpointPattern) + "\n";
  for (const auto& name : names) {
    command += " " + name;  // no character a shell would read
    expected += name + (nin::rundir::checkpoint_step(name) ? " 1\n" : " 0\n");
  }
  int status = -1;
  const std::string out = run(command + " 2>&1", status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out, expected);
}
