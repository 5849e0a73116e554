// report.html from a run directory: every section, escaping, fallbacks, checkpoints, timeline.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "report/report.h"
#include "report/svg.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace nin::report;
using nin::test::fresh_dir;

namespace {

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A run directory as a 2-rank run leaves it, with text that HTML must not take as markup.
fs::path sample_run(const std::string& name) {
  const auto dir = fresh_dir(name);
  write(dir / "config.toml", "[run]\ndir = '<script>alert(1)</script>'\n");
  write(dir / "metrics.jsonl",
        "{\"epoch\":1,\"step\":28,\"train_loss\":2.2,\"train_acc\":0.15,\"val_loss\":2.0,\"val_acc\":0.30,"
        "\"test_loss\":null,\"test_acc\":null,\"lr\":0.001,\"images_per_s\":250,\"epoch_s\":4}\n"
        "{\"epoch\":2,\"step\":56,\"train_loss\":2.1,\"train_acc\":0.22,\"val_loss\":1.9,\"val_acc\":0.25,"
        "\"test_loss\":1.9,\"test_acc\":0.35,\"lr\":2.5e-07,\"images_per_s\":280,\"epoch_s\":3}\n");
  write(dir / "steps.jsonl",
        "{\"epoch\":0.5,\"step\":14,\"train_loss\":2.3,\"train_acc\":0.1,\"lr\":0.001}\n"
        "{\"epoch\":1.0,\"step\":28,\"train_loss\":2.2,\"train_acc\":0.15,\"lr\":0.001}\n"
        "{\"epoch\":1.5,\"step\":42,\"train_loss\":2.15,\"train_acc\":0.2,\"lr\":0.001}\n");
  write(dir / "confusion.json",
        "{\"epoch\":2,\"split\":\"test\",\"classes\":[\"T-shirt/top\",\"<Trouser>\"],\"matrix\":[[3,1],[0,4]]}\n");
  write(dir / "run.json",
        "{\"world_size\":2,\"nodes\":1,\"started\":\"2026-12-02T09:00:00Z\",\"build\":{\"LibTorch\":\"1.13.0\","
        "\"MPI\":\"Open MPI v4.1.4\"},\"ranks\":[{\"rank\":0,\"host\":\"evil<b>host\",\"device\":\"cpu\"},"
        "{\"rank\":1,\"host\":\"evil<b>host\",\"device\":\"cpu\"}]}\n");
  write(dir / "trace.json",
        "{\"traceEvents\":["
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"rank 0 (host a&b)\"}},"
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"rank 1 (host a&b)\"}},"
        "{\"name\":\"forward\",\"cat\":\"compute\",\"ph\":\"X\",\"ts\":1000,\"dur\":400,\"pid\":0,\"tid\":0,\"args\":{\"step\":5}},"
        "{\"name\":\"backward\",\"cat\":\"compute\",\"ph\":\"X\",\"ts\":1400,\"dur\":800,\"pid\":0,\"tid\":0,\"args\":{\"step\":5}},"
        "{\"name\":\"allreduce bucket 0\",\"cat\":\"comm\",\"ph\":\"X\",\"ts\":1700,\"dur\":300,\"pid\":0,\"tid\":1,\"args\":{\"step\":5}},"
        "{\"name\":\"forward\",\"cat\":\"compute\",\"ph\":\"X\",\"ts\":1010,\"dur\":420,\"pid\":1,\"tid\":0,\"args\":{\"step\":5}},"
        "{\"name\":\"allreduce bucket 0\",\"cat\":\"comm\",\"ph\":\"X\",\"ts\":1710,\"dur\":290,\"pid\":1,\"tid\":1,\"args\":{\"step\":5}}"
        "],\"displayTimeUnit\":\"ms\",\"otherData\":{\"trace_steps\":\"5:5\",\"world_size\":2}}\n");
  write(dir / "ckpt-step0000000028.nin", std::string(1000, 'x'));
  write(dir / "ckpt-step0000000056.nin", std::string(1000, 'x'));
  write(dir / "best.nin", std::string(1000, 'x'));
  return dir;
}

}  // namespace

// Every section by its id, the charts inline, and the run's own text escaped everywhere.
TEST(Report, PageHoldsEverySectionAndEscapesTheRunsText) {
  const auto dir = sample_run("report-full");
  const fs::path out = write_report(dir, kByReport);
  ASSERT_EQ(out, dir / "report.html");
  std::ifstream in(out);
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* id : {"summary", "curves", "confusion", "timeline", "config", "build", "checkpoints"})
    EXPECT_EQ(count(html, std::string("id=\"") + id + "\""), 1u) << id;
  EXPECT_EQ(count(html, "<svg"), 4u);  // loss, accuracy, confusion, timeline
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("evil<b>"), std::string::npos);
  EXPECT_NE(html.find("evil&lt;b&gt;host"), std::string::npos);
  EXPECT_NE(html.find("&lt;Trouser&gt;"), std::string::npos);
  EXPECT_NE(html.find("rank 1 (host a&amp;b) comm"), std::string::npos);
  EXPECT_EQ(count(html, "<script"), 1u);  // the error recorder, nothing else
  // Self-contained: nothing fetched (the SVG namespace is a name, not a fetch).
  for (const char* fetch : {"src=", "href=\"http", "href='http", "url(", "@import", "<link"})
    EXPECT_EQ(html.find(fetch), std::string::npos) << fetch;
  EXPECT_NE(html.find("test accuracy 0.3500"), std::string::npos);  // the summary line
  EXPECT_NE(html.find("<td>2.5e-07</td>"), std::string::npos);  // a decayed lr keeps its digits
  EXPECT_NE(html.find("by nin-dist report</p>"), std::string::npos);
}

// A run directory with only its config: each section says what is missing and how to get it.
TEST(Report, SectionsSayWhatIsMissing) {
  const auto dir = fresh_dir("report-empty");
  write(dir / "config.toml", "[train]\nepochs = 3\n");
  const std::string html = render_report(read_run_dir(dir), kByTrainer);
  EXPECT_NE(html.find("No epoch has ended yet"), std::string::npos);
  EXPECT_NE(html.find("by the trainer (nin-dist train)</p>"), std::string::npos);
  EXPECT_NE(html.find("No evaluation yet"), std::string::npos);
  EXPECT_NE(html.find("log.trace_steps=A:B"), std::string::npos);
  EXPECT_NE(html.find("No run.json"), std::string::npos);
  EXPECT_NE(html.find("No checkpoint yet"), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  write(dir / "trace.json", "{\"traceEvents\": [");  // cut short
  EXPECT_NE(render_report(read_run_dir(dir), kByTrainer).find("trace.json could not be read"), std::string::npos);
}

// A FIFO where a file should be (a copied run directory is anyone's) is refused by name, not
// waited on: the page says so in its section and is still written.
TEST(Report, AFifoInTheRunDirectoryIsRefusedNotWaitedFor) {
  const auto dir = fresh_dir("report-fifo");
  write(dir / "config.toml", "[train]\nepochs = 3\n");
  ASSERT_EQ(mkfifo((dir / "trace.json").c_str(), 0600), 0);
  ASSERT_EQ(mkfifo((dir / "run.json").c_str(), 0600), 0);
  const std::string html = render_report(read_run_dir(dir), kByTrainer);
  EXPECT_NE(html.find("trace.json could not be read"), std::string::npos);
  EXPECT_NE(html.find("not a regular file"), std::string::npos);
  EXPECT_NE(html.find("No run.json"), std::string::npos);
}

// Checkpoints newest first with the step from their names; best.nin at the best validation epoch.
TEST(Report, CheckpointsListedWithTheirSteps) {
  const auto run = read_run_dir(sample_run("report-ckpt"));
  ASSERT_EQ(run.checkpoints.size(), 3u);
  EXPECT_EQ(run.checkpoints[0].name, "ckpt-step0000000056.nin");
  EXPECT_EQ(run.checkpoints[0].step, 56);
  EXPECT_EQ(run.checkpoints[1].step, 28);
  EXPECT_EQ(run.checkpoints[2].name, "best.nin");
  EXPECT_EQ(run.checkpoints[2].step, 28);  // epoch 1 had the higher validation accuracy
  EXPECT_EQ(run.steps.size(), 3u);
  ASSERT_TRUE(run.confusion);
  EXPECT_EQ(run.confusion->counts[1][1], 4);
}

// The Gantt: a row per rank and lane, a bar per span with its step in the tooltip, the time
// axis in ms from the first span.
TEST(Report, TimelineHasARowPerRankAndLane) {
  const auto run = read_run_dir(sample_run("report-trace"));
  ASSERT_TRUE(run.trace);
  EXPECT_EQ(run.trace->spans.size(), 5u);
  EXPECT_EQ(run.trace->trace_steps, "5:5");
  const std::string svg = gantt(*run.trace);
  for (const char* row : {"rank 0 (host a&amp;b) compute", "rank 0 (host a&amp;b) comm",
                          "rank 1 (host a&amp;b) compute", "rank 1 (host a&amp;b) comm"})
    EXPECT_EQ(count(svg, row), 1u) << row;
  EXPECT_EQ(count(svg, ", step 5: "), 5u);
  EXPECT_NE(svg.find("backward, step 5: 0.800 ms"), std::string::npos);
}

// Whole epochs on the x axis, however the steps fall.
TEST(Report, CurvesTickAtWholeEpochs) {
  const std::string svg = line_chart("loss", {{"train loss", "#000", {{0.25, 2.0}, {1.5, 1.0}, {2.75, 0.5}}, false, false}}, false);
  std::smatch m;
  const std::regex tick("class='xt' x='[0-9.]+' y='[0-9.]+'>([^<]*)</text>");
  std::string labels;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator(); ++it)
    labels += (*it)[1].str() + ",";
  EXPECT_EQ(labels, "0,1,2,3,epoch,");
}
