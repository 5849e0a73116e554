#include "report/run_dir.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "format/regular_file.h"
#include "rundir/paths.h"
#include "util/error.h"
#include "util/input_limit.h"

namespace nin::report {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMaxSpans = 50000;  // a longer trace is cut: the page stays a few MB
constexpr uint64_t kMaxRunFileBytes = uint64_t{1} << 30;  // bytes: any one file the page reads

// A number, or NaN for null or a missing key (a split not evaluated).
double number(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : kNaN;
}

// The text of a run directory's file, "" when it is absent; a FIFO, a device or a file past
// the cap is an InputError naming it (a copied run directory is someone else's bytes).
std::string read_text(const fs::path& path) {
  if (!fs::exists(path)) return "";
  return format::read_regular_file(path, "run directory file", input_limit(kMaxRunFileBytes));
}

Confusion read_confusion(const nlohmann::json& j) {
  Confusion c;
  c.epoch = j.value("epoch", int64_t{0});
  c.split = j.value("split", std::string());
  c.classes = j.at("classes").get<std::vector<std::string>>();
  c.counts = j.at("matrix").get<std::vector<std::vector<int64_t>>>();
  for (const auto& row : c.counts)
    if (row.size() != c.classes.size()) throw std::runtime_error("a row's length is not the class count");
  if (c.counts.size() != c.classes.size()) throw std::runtime_error("the row count is not the class count");
  return c;
}

Trace read_trace(const nlohmann::json& j) {
  Trace t;
  if (const auto other = j.find("otherData"); other != j.end() && other->is_object())
    t.trace_steps = other->value("trace_steps", std::string());
  for (const auto& e : j.at("traceEvents")) {
    const std::string ph = e.value("ph", std::string());
    if (ph == "M" && e.value("name", std::string()) == "process_name" && e.contains("args"))
      t.rank_names.emplace_back(e.value("pid", 0), e["args"].value("name", std::string()));
    if (ph != "X" || t.spans.size() >= kMaxSpans) continue;
    Span s{e.value("pid", 0), e.value("tid", 0), e.value("name", std::string()), number(e, "ts"), number(e, "dur")};
    if (std::isnan(s.start_us) || std::isnan(s.dur_us)) continue;
    if (const auto args = e.find("args"); args != e.end() && args->is_object())
      s.step = args->value("step", int64_t{-1});
    t.spans.push_back(std::move(s));
  }
  std::sort(t.rank_names.begin(), t.rank_names.end());
  return t;
}

}  // namespace

RunDir read_run_records(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": not a directory");
  RunDir r;
  r.dir = dir;
  r.epochs = rundir::read_metrics(dir);
  r.steps = rundir::read_steps(dir);
  return r;
}

RunDir read_run_dir(const fs::path& dir) {
  RunDir r = read_run_records(dir);
  try {
    if (fs::exists(dir / rundir::kConfusion))
      r.confusion = read_confusion(nlohmann::json::parse(read_text(dir / rundir::kConfusion)));
  } catch (const std::exception&) {
    r.confusion.reset();  // written atomically: a bad file is someone else's, and shown as absent
  }
  if (fs::exists(dir / rundir::kTrace)) {
    try {
      r.trace = read_trace(nlohmann::json::parse(read_text(dir / rundir::kTrace)));
    } catch (const std::exception& e) {
      r.trace_error = e.what();
    }
  }
  r.config = read_text(dir / rundir::kConfig);
  try {
    r.run_info = nlohmann::json::parse(read_text(dir / rundir::kRunInfo), nullptr, /*allow_exceptions=*/false);
  } catch (const InputError&) {
    r.run_info = nullptr;  // shown as absent, as a run.json that does not parse
  }
  if (r.run_info.is_discarded()) r.run_info = nullptr;

  // Checkpoints (the step in the name), best.nin.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (const auto step = rundir::checkpoint_step(name); step && entry.is_regular_file())
      r.checkpoints.push_back({name, *step, entry.file_size()});
  }
  std::sort(r.checkpoints.begin(), r.checkpoints.end(), [](auto& a, auto& b) { return a.step > b.step; });
  if (fs::is_regular_file(dir / rundir::kBest)) {
    CheckpointEntry best{rundir::kBest, -1, fs::file_size(dir / rundir::kBest)};
    double best_acc = -1;
    for (const auto& e : r.epochs)  // Run::end_epoch keeps the first epoch of the highest accuracy
      if (!std::isnan(e.val_acc) && e.val_acc > best_acc) best_acc = e.val_acc, best.step = e.step;
    r.checkpoints.push_back(best);
  }
  return r;
}

}  // namespace nin::report
