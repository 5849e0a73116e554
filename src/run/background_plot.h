// curves.svg and report.html redrawn after each epoch on a thread of its own: the drawing
// never delays a step.
#pragma once

#include <filesystem>
#include <functional>
#include <future>
#include <string>

namespace nin::run {

class BackgroundPlot {
 public:
  // `warn` prints a warning (rank 0's stderr); each distinct one is said once.
  BackgroundPlot(std::filesystem::path run_dir, std::function<void(const std::string&)> warn);
  ~BackgroundPlot();  // waits for a plot in progress
  BackgroundPlot(const BackgroundPlot&) = delete;
  BackgroundPlot& operator=(const BackgroundPlot&) = delete;

  // After metrics.jsonl has the epoch's record: draws (curves, then the page) now if no plot is in progress, else
  // once the one in progress is done (at the next request, or in finish()).
  void request();
  // Waits for the plot in progress, and draws the latest records if a request is pending.
  void finish();

 private:
  void collect();  // the finished plot's warning, said when new

  std::filesystem::path dir_;
  std::function<void(const std::string&)> warn_;
  std::future<std::string> job_;  // the plot in progress: its warning, "" when it drew
  bool pending_ = false;
  std::string last_warning_;
};

}  // namespace nin::run
