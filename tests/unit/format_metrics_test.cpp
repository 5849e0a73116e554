// Metrics records: the exact bytes of metrics.jsonl and metrics.csv, and the round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "test_util.h"
#include "report/curves.h"
#include "run/progress.h"

namespace fs = std::filesystem;
using namespace nin::run;
using nin::test::fresh_dir;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

nin::rundir::EpochRecord sample(int64_t epoch) {
  nin::rundir::EpochRecord r;
  r.epoch = epoch;
  r.step = 40 * epoch;
  r.train_loss = 2.0 / 3;  // more digits than the CSV keeps
  r.train_acc = 0.75;
  r.val_loss = 0.25;
  r.val_acc = 0.875;
  r.val_class_acc = {1.0, 0.75};
  if (epoch == 1) r.test_loss = 0.1, r.test_acc = 0.8125, r.class_acc = {0.5, 1.0, 0.25};  // then not evaluated
  r.lr = 1e-4;
  r.images_per_s = 12345.678901;
  r.epoch_s = 1.5;
  r.comm_wait_s = 0;
  r.peak_mem_bytes = 123456789;
  r.flops_per_image = 1.5e9;
  if (epoch == 1) r.mfu = 0.375;  // then a CPU's: not known
  r.grad_norm_mean = 0.25;
  r.grad_norm_max = 1.5;
  r.world_size = 2;
  return r;
}

}  // namespace

// Keys sorted in the JSON, columns in declaration order in the CSV, 8 significant digits there:
// bench/ and tests/ parse both files.
TEST(Metrics, FilesKeepTheirExactFormat) {
  const auto dir = fresh_dir("metrics-format");
  nin::rundir::append_metrics(dir, sample(1));
  nin::rundir::append_metrics(dir, sample(2));
  const std::string tail =
      "\"train_acc\":0.75,\"train_loss\":0.6666666666666666,\"val_acc\":0.875,\"val_class_acc\":[1.0,0.75],"
      "\"val_loss\":0.25,\"world_size\":2}\n";
  // A split not evaluated at an epoch: null in the JSON, nan in the CSV, an empty list.
  EXPECT_EQ(read_text(dir / "metrics.jsonl"),
            "{\"class_acc\":[0.5,1.0,0.25],\"comm_wait_s\":0.0,\"epoch\":1,\"epoch_s\":1.5,"
            "\"flops_per_image\":1500000000.0,\"grad_norm_max\":1.5,\"grad_norm_mean\":0.25,\"images_per_s\":12345.678901,"
            "\"lr\":0.0001,\"mfu\":0.375,\"peak_mem_bytes\":123456789,\"step\":40,\"test_acc\":0.8125,\"test_loss\":0.1," + tail +
            "{\"class_acc\":[],\"comm_wait_s\":0.0,\"epoch\":2,\"epoch_s\":1.5,"
            "\"flops_per_image\":1500000000.0,\"grad_norm_max\":1.5,\"grad_norm_mean\":0.25,\"images_per_s\":12345.678901,"
            "\"lr\":0.0001,\"mfu\":null,\"peak_mem_bytes\":123456789,\"step\":80,\"test_acc\":null,\"test_loss\":null," + tail);
  EXPECT_EQ(read_text(dir / "metrics.csv"),
            "epoch,step,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,images_per_s,epoch_s,comm_wait_s,"
            "peak_mem_bytes,flops_per_image,mfu,grad_norm_mean,grad_norm_max,world_size,class_acc,val_class_acc\n"
            "1,40,0.66666667,0.75,0.25,0.875,0.1,0.8125,0.0001,12345.679,1.5,0,123456789,1.5e+09,0.375,0.25,1.5,2,0.5;1;0.25,1;0.75\n"
            "2,80,0.66666667,0.75,0.25,0.875,nan,nan,0.0001,12345.679,1.5,0,123456789,1.5e+09,nan,0.25,1.5,2,,1;0.75\n");
  const auto back = nin::rundir::read_metrics(dir);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(std::isnan(back[1].test_acc) && std::isnan(back[1].test_loss));
  EXPECT_TRUE(std::isnan(back[1].mfu));
  EXPECT_EQ(back[0].mfu, 0.375);
  EXPECT_EQ(back[1].peak_mem_bytes, 123456789);
  EXPECT_EQ(back[1].val_acc, 0.875);
}

TEST(Metrics, RecordsRoundTripAndMissingKeysTakeDefaults) {
  const auto dir = fresh_dir("metrics-roundtrip");
  nin::rundir::append_metrics(dir, sample(1));
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"epoch\":2,\"test_acc\":0.5}\n{\"epoch\":3,\"te";
  const auto records = nin::rundir::read_metrics(dir);
  ASSERT_EQ(records.size(), 2u);  // the line cut short by a crash is skipped
  const nin::rundir::EpochRecord want = sample(1);
  const nin::rundir::EpochRecord& got = records[0];
  EXPECT_EQ(got.epoch, want.epoch);
  EXPECT_EQ(got.step, want.step);
  EXPECT_EQ(got.train_loss, want.train_loss);  // bitwise: JSON keeps every digit
  EXPECT_EQ(got.train_acc, want.train_acc);
  EXPECT_EQ(got.test_loss, want.test_loss);
  EXPECT_EQ(got.test_acc, want.test_acc);
  EXPECT_EQ(got.lr, want.lr);
  EXPECT_EQ(got.images_per_s, want.images_per_s);
  EXPECT_EQ(got.epoch_s, want.epoch_s);
  EXPECT_EQ(got.comm_wait_s, want.comm_wait_s);
  EXPECT_EQ(got.grad_norm_mean, want.grad_norm_mean);
  EXPECT_EQ(got.grad_norm_max, want.grad_norm_max);
  EXPECT_EQ(got.world_size, want.world_size);
  EXPECT_EQ(got.class_acc, want.class_acc);
  EXPECT_EQ(records[1].epoch, 2);
  EXPECT_EQ(records[1].test_acc, 0.5);
  EXPECT_EQ(records[1].step, 0);
  EXPECT_EQ(records[1].world_size, 1);  // runs from before world_size was recorded: one rank
  EXPECT_EQ(records[1].grad_norm_max, 0);  // nor the gradient norms
  EXPECT_TRUE(std::isnan(records[1].mfu));  // nor MFU: not known
}

// steps.jsonl: records kept up to the step a run resumes from, none for a fresh run, and a
// line cut short by a crash skipped; a missing file stays missing.
TEST(Metrics, StepRecordsTrimToTheResumedStep) {
  const auto dir = fresh_dir("steps");
  nin::rundir::trim_steps(dir, 8);
  EXPECT_FALSE(fs::exists(dir / "steps.jsonl"));
  for (int64_t step = 4; step <= 20; step += 4)
    nin::rundir::append_step(dir, {double(step) / 16, step, 2.0 - double(step) / 20, double(step) / 40, 1e-3});
  std::ofstream(dir / "steps.jsonl", std::ios::app) << "{\"epoch\":1.5,\"st";  // a crash mid-line
  ASSERT_EQ(nin::rundir::read_steps(dir).size(), 5u);
  nin::rundir::trim_steps(dir, 12);
  const auto kept = nin::rundir::read_steps(dir);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept.back().step, 12);
  EXPECT_DOUBLE_EQ(kept.back().epoch, 0.75);
  EXPECT_DOUBLE_EQ(kept.back().train_loss, 1.4);
  nin::rundir::append_step(dir, {1.0, 16, 1.2, 0.4, 1e-3});  // appends after the trimmed records
  EXPECT_EQ(nin::rundir::read_steps(dir).back().step, 16);
  nin::rundir::trim_steps(dir, 0);
  EXPECT_EQ(read_text(dir / "steps.jsonl"), "");
}

// metrics.jsonl and metrics.csv: a resume from the end of epoch 2 drops epoch 3's record from
// both, byte for byte as a run that stopped after epoch 2 wrote them; a fresh run keeps none.
TEST(Metrics, EpochRecordsTrimToTheResumedEpoch) {
  const auto two = fresh_dir("epochs-two"), three = fresh_dir("epochs-three");
  for (int64_t e = 1; e <= 2; ++e) nin::rundir::append_metrics(two, sample(e)), nin::rundir::append_metrics(three, sample(e));
  nin::rundir::append_metrics(three, sample(3));
  nin::rundir::trim_metrics(three, 3);  // nothing past epoch 3: the files stay as they are
  ASSERT_EQ(nin::rundir::read_metrics(three).size(), 3u);
  nin::rundir::trim_metrics(three, 2);
  EXPECT_EQ(read_text(three / "metrics.jsonl"), read_text(two / "metrics.jsonl"));
  EXPECT_EQ(read_text(three / "metrics.csv"), read_text(two / "metrics.csv"));
  nin::rundir::trim_metrics(three, 0);
  EXPECT_TRUE(nin::rundir::read_metrics(three).empty());
  const std::string csv = read_text(three / "metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1);  // the header alone
}

// curves.svg of two runs with steps.jsonl: training lines from the step records, a legend
// entry per run and split named after the run directory, a colour per run; no external program.
TEST(Curves, TwoRunsWithStepRecordsNamedByTheirDirectories) {
  const auto root = fresh_dir("plot-steps");
  for (const char* name : {"run-a", "run-b"}) {
    const auto dir = root / name;
    fs::create_directories(dir);
    nin::rundir::append_metrics(dir, sample(1));
    nin::rundir::append_metrics(dir, sample(2));
    for (int64_t step = 10; step <= 80; step += 10)
      nin::rundir::append_step(dir, {double(step) / 40, step, 2.0 / double(step), 0.01 * double(step), 1e-3});
  }
  const auto written = nin::report::write_curves({root / "run-a", root / "run-b"}, root);
  ASSERT_TRUE(written);
  EXPECT_EQ(*written, root / "curves.svg");
  const std::string svg = read_text(root / "curves.svg");
  for (const char* title : {"run-a train loss", "run-b train loss", "run-a val acc", "run-b test acc"})
    EXPECT_NE(svg.find(title), std::string::npos) << title;
  EXPECT_NE(svg.find("stroke='#1f77b4'"), std::string::npos);  // run-a's colour
  EXPECT_NE(svg.find("stroke='#2ca02c'"), std::string::npos);  // run-b's
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
}

// No epoch record in any run: nothing to draw, nothing written.
TEST(Curves, NoRecordsWritesNothing) {
  const auto dir = fresh_dir("plot-empty");
  EXPECT_FALSE(nin::report::write_curves({dir}, dir));
  EXPECT_FALSE(fs::exists(dir / "curves.svg"));
}
