#include "run/background_plot.h"

#include <chrono>

#include "report/report.h"
#include "run/metrics.h"

namespace nin::run {
namespace {

// curves.png, then report.html (which does not need it: the page draws its own charts).
std::string plot(const std::filesystem::path& dir) {
  std::string warning;
  plot_curves({dir}, dir, warning);
  try {
    report::write_report(dir, report::kByTrainer);
  } catch (const std::exception& e) {
    warning += (warning.empty() ? "" : "; ") + std::string("report.html: ") + e.what();
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
    pending_ = true;  // the epochs are quicker than gnuplot: draw them all at once, later
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
