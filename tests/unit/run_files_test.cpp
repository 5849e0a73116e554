// One run per run directory: which files are a run's, what they say, and moving them aside.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "run/progress.h"
#include "run/files.h"

namespace fs = std::filesystem;
using namespace nin::run;
using nin::test::fresh_dir;

namespace {

void touch(const fs::path& p, const std::string& text = "x") { std::ofstream(p) << text; }

nin::rundir::EpochRecord record(int64_t epoch, double val_acc, double test_acc) {
  nin::rundir::EpochRecord r;
  r.epoch = epoch;
  r.val_acc = val_acc;
  r.test_acc = test_acc;
  return r;
}

}  // namespace

// The lock, a folder of an earlier run and files of the user's are no run; records are.
TEST(RunFiles, OnlyARunsOwnFilesCount) {
  const auto dir = fresh_dir("run-files");
  EXPECT_TRUE(nin::run::run_files(dir / "absent").empty());
  touch(dir / "nin-dist.lock");
  touch(dir / "notes.txt");
  touch(dir / "ckpt-step12.nin");  // not a checkpoint's name: 10 digits
  fs::create_directory(dir / "previous-20260101T000000Z");
  EXPECT_TRUE(nin::run::run_files(dir).empty());
  touch(dir / "steps.jsonl");
  touch(dir / "ckpt-step0000000004.nin");
  touch(dir / "best.nin");
  EXPECT_EQ(nin::run::run_files(dir), (std::vector<std::string>{"best.nin", "ckpt-step0000000004.nin", "steps.jsonl"}));
}

// The message names the epochs, the best validation accuracy, the last test accuracy and
// the newest checkpoint.
TEST(RunFiles, DescriptionSaysWhatTheRunRecorded) {
  const auto dir = fresh_dir("run-describe");
  EXPECT_EQ(nin::run::describe_run(dir), "no epoch recorded");
  nin::rundir::append_metrics(dir, record(1, 0.5, nin::rundir::kNotEvaluated));
  nin::rundir::append_metrics(dir, record(2, 0.75, 0.625));
  nin::rundir::append_metrics(dir, record(3, 0.7, nin::rundir::kNotEvaluated));
  touch(dir / "ckpt-step0000000004.nin");
  touch(dir / "ckpt-step0000000008.nin");
  EXPECT_EQ(nin::run::describe_run(dir),
            "3 epoch(s) recorded, best validation accuracy 0.7500, test accuracy 0.6250 at epoch 2, "
            "2 checkpoint(s) (newest ckpt-step0000000008.nin)");
}

// Moved, byte for byte, into a new folder; a second move the same second takes a new name.
TEST(RunFiles, MoveAsideKeepsEveryByteInANewFolder) {
  const auto dir = fresh_dir("run-aside");
  touch(dir / "metrics.jsonl", "{\"epoch\":1}\n");
  touch(dir / "best.nin", "weights");
  const fs::path to = nin::run::aside_dir(dir);
  EXPECT_EQ(to.parent_path(), dir);
  EXPECT_EQ(to.filename().string().rfind("previous-", 0), 0u);
  nin::run::move_aside(dir, nin::run::run_files(dir), to);
  EXPECT_TRUE(nin::run::run_files(dir).empty());
  std::ifstream in(to / "best.nin");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "weights");
  touch(dir / "best.nin", "newer");
  const fs::path again = nin::run::aside_dir(dir);
  EXPECT_NE(again, to);
  nin::run::move_aside(dir, nin::run::run_files(dir), again);
  EXPECT_TRUE(fs::exists(again / "best.nin"));
  EXPECT_THROW(nin::run::move_aside(dir, {"best.nin"}, again), std::runtime_error);  // never into a folder in use
}
