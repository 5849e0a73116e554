#include "train/metrics.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace nin::train {
namespace fs = std::filesystem;
namespace {

nlohmann::json to_json(const EpochRecord& r) {
  return {{"epoch", r.epoch},          {"step", r.step},         {"train_loss", r.train_loss},
          {"train_acc", r.train_acc},  {"test_loss", r.test_loss}, {"test_acc", r.test_acc},
          {"lr", r.lr},                {"images_per_s", r.images_per_s}, {"epoch_s", r.epoch_s},
          {"comm_wait_s", r.comm_wait_s}, {"world_size", r.world_size}};
}

const char* kCsvHeader =
    "epoch,step,train_loss,train_acc,test_loss,test_acc,lr,images_per_s,epoch_s,comm_wait_s,world_size";

std::string quote(const std::string& s) {  // gnuplot string literal
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

void append_metrics(const fs::path& run_dir, const EpochRecord& r) {
  std::ofstream jsonl(run_dir / "metrics.jsonl", std::ios::app);
  jsonl << to_json(r).dump() << "\n";
  const fs::path csv_path = run_dir / "metrics.csv";
  const bool fresh = !fs::exists(csv_path) || fs::file_size(csv_path) == 0;
  std::ofstream csv(csv_path, std::ios::app);
  if (fresh) csv << kCsvHeader << "\n";
  csv << std::setprecision(8) << r.epoch << ',' << r.step << ',' << r.train_loss << ',' << r.train_acc << ','
      << r.test_loss << ',' << r.test_acc << ',' << r.lr << ',' << r.images_per_s << ',' << r.epoch_s << ','
      << r.comm_wait_s << ',' << r.world_size << "\n";
  jsonl.flush();
  csv.flush();
  if (!jsonl || !csv)
    throw std::runtime_error("cannot append metrics in " + run_dir.string() + ": " + std::strerror(errno));
}

std::vector<EpochRecord> read_metrics(const fs::path& run_dir) {
  std::vector<EpochRecord> out;
  std::ifstream in(run_dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) continue;  // a line cut short by a crash
    EpochRecord r;
    r.epoch = j.value("epoch", int64_t{0});
    r.step = j.value("step", int64_t{0});
    r.train_loss = j.value("train_loss", 0.0);
    r.train_acc = j.value("train_acc", 0.0);
    r.test_loss = j.value("test_loss", 0.0);
    r.test_acc = j.value("test_acc", 0.0);
    r.lr = j.value("lr", 0.0);
    r.images_per_s = j.value("images_per_s", 0.0);
    r.epoch_s = j.value("epoch_s", 0.0);
    r.comm_wait_s = j.value("comm_wait_s", 0.0);
    r.world_size = j.value("world_size", int64_t{1});
    out.push_back(r);
  }
  return out;
}

bool plot_curves(const std::vector<fs::path>& run_dirs, const fs::path& out_dir, std::string& warning) {
  // gnuplot reads whitespace-separated columns: one data file per run, beside the plot.
  std::vector<std::pair<fs::path, std::string>> series;
  for (const auto& dir : run_dirs) {
    const auto records = read_metrics(dir);
    if (records.empty()) continue;
    const fs::path data = out_dir / (".curves-" + std::to_string(series.size()) + ".dat");
    std::ofstream out(data);
    for (const auto& r : records)
      out << r.epoch << ' ' << r.train_loss << ' ' << r.test_loss << ' ' << r.train_acc << ' ' << r.test_acc << "\n";
    std::string label = fs::weakly_canonical(dir).filename().string();
    series.emplace_back(data, run_dirs.size() > 1 ? label + " " : "");
  }
  if (series.empty()) {
    warning = "no metrics.jsonl records to plot";
    return false;
  }
  std::ostringstream script;
  auto plots = [&](const fs::path& file) {
    script << "set output " << quote(file.string()) << "\n"
           << "set multiplot layout 1,2\nset xlabel 'epoch'\nset grid\nset key bottom left\n"
           << "set title 'loss'\nplot ";
    for (size_t i = 0; i < series.size(); ++i) {
      const auto& [data, label] = series[i];
      script << (i ? ", " : "") << quote(data.string()) << " using 1:2 with linespoints title "
             << quote(label + "train loss") << ", " << quote(data.string()) << " using 1:3 with linespoints title "
             << quote(label + "test loss");
    }
    script << "\nset title 'accuracy'\nset key bottom right\nset yrange [0:1]\nplot ";
    for (size_t i = 0; i < series.size(); ++i) {
      const auto& [data, label] = series[i];
      script << (i ? ", " : "") << quote(data.string()) << " using 1:4 with linespoints title "
             << quote(label + "train acc") << ", " << quote(data.string()) << " using 1:5 with linespoints title "
             << quote(label + "test acc");
    }
    script << "\nunset multiplot\nset yrange [*:*]\n";
  };
  script << "set terminal pngcairo size 1200,450 noenhanced\n";
  plots(out_dir / "curves.png");
  script << "set terminal svg size 1200,450 noenhanced\n";
  plots(out_dir / "curves.svg");

  const fs::path script_path = out_dir / ".curves.gp";
  std::ofstream(script_path) << script.str();
  const std::string cmd = "gnuplot " + quote(script_path.string()) + " 2>&1";
  std::string output;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) {
    warning = "cannot start gnuplot";
    return false;
  }
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) output += buf;
  const int status = ::pclose(pipe);
  if (status != 0) {
    warning = (WEXITSTATUS(status) == 127) ? "gnuplot not found; install gnuplot-nox to get curves.png"
                                           : "gnuplot failed: " + output;
    return false;
  }
  return true;
}

bool stdout_is_terminal() {
  // Open MPI gives every rank a pseudo-terminal, even when mpirun's output goes to a file,
  // and forwards output line by line: under a launcher, plain lines are the honest choice.
  for (const char* launcher_var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_ID"})
    if (std::getenv(launcher_var)) return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

Progress::Progress(int64_t epoch, int64_t epochs, int64_t steps, int64_t every, bool quiet, bool enabled)
    : epoch_(epoch), epochs_(epochs), steps_(steps), every_(every), tty_(stdout_is_terminal()),
      quiet_(quiet), enabled_(enabled), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

bool Progress::due(int64_t step) const {
  return enabled_ && !quiet_ && (tty_ || step % every_ == 0 || step == steps_);
}

void Progress::update(int64_t step, double running_loss, double images_per_s) {
  if (!enabled_ || quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = step > 0 ? elapsed / step * (steps_ - step) : 0.0;
  std::ostringstream line;
  line << std::fixed << std::setprecision(4) << "epoch " << epoch_ << "/" << epochs_;
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && step != steps_) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * step / std::max<int64_t>(steps_, 1));
    line << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << step << "/" << steps_
         << " loss " << running_loss << std::setprecision(0) << " | " << images_per_s << " img/s | ETA " << eta << " s";
    std::cout << "\r" << line.str() << "\033[K" << std::flush;
  } else {
    if (step % every_ != 0 && step != steps_) return;
    line << " step " << step << "/" << steps_ << " loss " << running_loss << std::setprecision(0) << " | "
         << images_per_s << " img/s | ETA " << eta << " s";
    std::cout << line.str() << std::endl;
  }
  last_draw_ = now;
}

void Progress::finish() {
  if (enabled_ && !quiet_ && tty_) std::cout << "\r\033[K" << std::flush;
}

std::string format_record(const EpochRecord& r, int64_t epochs) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << "epoch " << r.epoch << "/" << epochs << "  train loss "
      << r.train_loss << " acc " << r.train_acc << " | test loss " << r.test_loss << " acc " << r.test_acc
      << std::setprecision(0) << " | " << r.images_per_s << " img/s | " << std::setprecision(1) << r.epoch_s
      << " s";
  return out.str();
}

}  // namespace nin::train
