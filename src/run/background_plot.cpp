#include "run/background_plot.h"

#include <chrono>

#include "report/curves.h"
#include "report/report.h"
#include "rundir/paths.h"

namespace nin::run {
namespace {

// curves.svg, then report.html (which draws the same charts inline); a failure is a warning:
// drawing never stops training.
std::string plot(const std::filesystem::path& dir) {
  std::string warning;
  try {
    report::write_curves({dir}, dir);
  } catch (const std::exception& e) {
    warning = std::string(rundir::kCurves) + ": " + e.what();
  }
  try {
    report::write_report(dir, report::kByTrainer);
  } catch (const std::exception& e) {
    warning += std::string(warning.empty() ? "" : "; ") + rundir::kReport + ": " + e.what();
  }
  return warning;
}

}  // namespace

BackgroundPlot::BackgroundPlot(std::filesystem::path run_dir, std::function<void(const std::string&)> warn)
    : dir_(std::move(run_dir)), warn_(std::move(warn)) {}

BackgroundPlot::~BackgroundPlot() {
  if (job_.valid()) job_.wait();
}

void BackgroundPlot::request() {
  if (job_.valid() && job_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    pending_ = true;  // the epochs are quicker than the drawing: draw them all at once, later
    return;
  }
  collect();
  pending_ = false;
  job_ = std::async(std::launch::async, plot, dir_);
}

void BackgroundPlot::finish() {
  collect();
  if (pending_) {
    pending_ = false;
    job_ = std::async(std::launch::deferred, plot, dir_);  // here, on this thread
    collect();
  }
}

void BackgroundPlot::collect() {
  if (!job_.valid()) return;
  const std::string warning = job_.get();
  if (!warning.empty() && warning != last_warning_) warn_(warning);
  last_warning_ = warning;
}

}  // namespace nin::run
