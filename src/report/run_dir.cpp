#include "report/run_dir.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "format/regular_file.h"
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

// Each parseable JSON object line of `path`, in order.
template <typename F>
void for_each_line(const fs::path& path, F&& f) {
  std::istringstream in(read_text(path));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) f(j);
  }
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

RunDir read_run_dir(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": not a directory");
  RunDir r;
  r.dir = dir;
  for_each_line(dir / "metrics.jsonl", [&](const nlohmann::json& j) {
    r.epochs.push_back({j.value("epoch", int64_t{0}), j.value("step", int64_t{0}), number(j, "train_loss"),
                        number(j, "train_acc"), number(j, "val_loss"), number(j, "val_acc"), number(j, "test_loss"),
                        number(j, "test_acc"), number(j, "lr"), number(j, "images_per_s"), number(j, "epoch_s"),
                        number(j, "peak_mem_bytes"), number(j, "mfu")});
  });
  for_each_line(dir / "steps.jsonl", [&](const nlohmann::json& j) {
    r.steps.push_back(
        {number(j, "epoch"), j.value("step", int64_t{0}), number(j, "train_loss"), number(j, "train_acc")});
  });
  try {
    if (fs::exists(dir / "confusion.json"))
      r.confusion = read_confusion(nlohmann::json::parse(read_text(dir / "confusion.json")));
  } catch (const std::exception&) {
    r.confusion.reset();  // written atomically: a bad file is someone else's, and shown as absent
  }
  if (fs::exists(dir / "trace.json")) {
    try {
      r.trace = read_trace(nlohmann::json::parse(read_text(dir / "trace.json")));
    } catch (const std::exception& e) {
      r.trace_error = e.what();
    }
  }
  r.config = read_text(dir / "config.toml");
  try {
    r.run_info = nlohmann::json::parse(read_text(dir / "run.json"), nullptr, /*allow_exceptions=*/false);
  } catch (const InputError&) {
    r.run_info = nullptr;  // shown as absent, as a run.json that does not parse
  }
  if (r.run_info.is_discarded()) r.run_info = nullptr;

  // Checkpoints: ckpt-stepNNNNNNNNNN.nin (the step in the name), best.nin.
  static const std::regex kName(R"(ckpt-step(\d{10})\.nin)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    std::smatch m;
    if (entry.is_regular_file() && std::regex_match(name, m, kName))
      r.checkpoints.push_back({name, std::stoll(m[1]), entry.file_size()});
  }
  std::sort(r.checkpoints.begin(), r.checkpoints.end(), [](auto& a, auto& b) { return a.step > b.step; });
  if (fs::is_regular_file(dir / "best.nin")) {
    CheckpointEntry best{"best.nin", -1, fs::file_size(dir / "best.nin")};
    double best_acc = -1;
    for (const auto& e : r.epochs)  // Run::end_epoch keeps the first epoch of the highest accuracy
      if (!std::isnan(e.val_acc) && e.val_acc > best_acc) best_acc = e.val_acc, best.step = e.step;
    r.checkpoints.push_back(best);
  }
  return r;
}

}  // namespace nin::report
