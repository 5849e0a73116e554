#include "run/files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>
#include <stdexcept>

#include "checkpoint/checkpoint.h"
#include "run/progress.h"
#include "rundir/paths.h"
#include "util/utc_now.h"

namespace nin::run {
namespace fs = std::filesystem;
namespace {

std::string four_decimals(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", v);
  return text;
}

}  // namespace

std::vector<std::string> run_files(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return names;
  for (const char* name : rundir::kRunFiles)
    if (fs::exists(fs::symlink_status(dir / name, ec))) names.emplace_back(name);
  for (const auto& path : checkpoint::list_checkpoints(dir)) names.push_back(path.filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string describe_run(const fs::path& dir) {
  std::string s;
  std::vector<rundir::EpochRecord> records;
  try {
    records = rundir::read_metrics(dir);
  } catch (const std::exception&) {
    // a record that does not read is no reason to hide the rest of the description
  }
  if (records.empty()) {
    s = "no epoch recorded";
  } else {
    s = std::to_string(records.back().epoch) + " epoch(s) recorded";
    double best_val = std::nan("");
    for (const auto& r : records)
      if (std::isfinite(r.val_acc) && !(r.val_acc <= best_val)) best_val = r.val_acc;
    if (std::isfinite(best_val)) s += ", best validation accuracy " + four_decimals(best_val);
    for (auto r = records.rbegin(); r != records.rend(); ++r)
      if (std::isfinite(r->test_acc)) {
        s += ", test accuracy " + four_decimals(r->test_acc) + " at epoch " + std::to_string(r->epoch);
        break;
      }
  }
  const auto checkpoints = checkpoint::list_checkpoints(dir);
  if (!checkpoints.empty())
    s += ", " + std::to_string(checkpoints.size()) + " checkpoint(s) (newest " +
         checkpoints.front().filename().string() + ")";
  if (fs::exists(dir / rundir::kBest)) s += std::string(", ") + rundir::kBest;
  return s;
}

fs::path aside_dir(const fs::path& dir) {
  const fs::path base = rundir::previous_dir(dir, util::utc_now("%Y%m%dT%H%M%SZ"));
  fs::path out = base;
  for (int n = 2; fs::exists(fs::symlink_status(out)); ++n) out = base.string() + "-" + std::to_string(n);
  return out;
}

void move_aside(const fs::path& dir, const std::vector<std::string>& names, const fs::path& to) {
  std::error_code ec;
  if (!fs::create_directory(to, ec) || ec)
    throw std::runtime_error("cannot create " + to.string() + " for the earlier run's files: " +
                             (ec ? ec.message() : "it exists"));
  for (const auto& name : names) {
    fs::rename(dir / name, to / name, ec);
    if (ec)
      throw std::runtime_error("cannot move " + (dir / name).string() + " to " + to.string() + ": " + ec.message() +
                               " (the files moved before it are in " + to.string() + ")");
  }
}

}  // namespace nin::run
