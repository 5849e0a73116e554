#include "train/metrics.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
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

// EpochRecord's fields, in metrics.csv's column order. The JSON line holds the same keys
// (sorted, as nlohmann::json orders them); a key missing when read takes EpochRecord's default.
#define NIN_EPOCH_RECORD_FIELDS \
  epoch, step, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, lr, images_per_s, epoch_s, \
      comm_wait_s, peak_mem_bytes, flops_per_image, mfu, grad_norm_mean, grad_norm_max, world_size, class_acc, val_class_acc
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochRecord, NIN_EPOCH_RECORD_FIELDS)

namespace {

#define NIN_STRINGIFY(...) #__VA_ARGS__
#define NIN_FIELD_NAMES(...) NIN_STRINGIFY(__VA_ARGS__)  // expands the field list before quoting it

// "epoch,step,...": the field list without its spaces.
std::string csv_header() {
  std::string header = NIN_FIELD_NAMES(NIN_EPOCH_RECORD_FIELDS);
  header.erase(std::remove(header.begin(), header.end(), ' '), header.end());
  return header;
}

// The record's fields in the header's order: integers as they are, reals to 8 significant
// digits, a list as its values joined by ';' (one column whatever the number of classes).
std::string csv_row(const EpochRecord& r) {
  const nlohmann::json fields = r;
  std::istringstream names(csv_header());
  std::ostringstream row;
  row << std::setprecision(8);
  std::string name;
  for (const char* sep = ""; std::getline(names, name, ','); sep = ",") {
    const auto& v = fields.at(name);
    row << sep;
    if (v.is_number_integer()) row << v.get<int64_t>();
    else if (v.is_array())
      for (size_t i = 0; i < v.size(); ++i) row << (i ? ";" : "") << v[i].get<double>();
    else row << v.get<double>();
  }
  return row.str();
}

// A gnuplot string literal: single quotes, which expand nothing, with ' doubled; a control
// character (a newline would end the command) becomes '?'.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') out += "''";
    else out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  return out + "'";
}

constexpr const char* kOutputs[] = {"curves.png", "curves.svg"};  // what gnuplot_script writes

}  // namespace

void append_metrics(const fs::path& run_dir, const EpochRecord& r) {
  std::ofstream jsonl(run_dir / "metrics.jsonl", std::ios::app);
  jsonl << nlohmann::json(r).dump() << "\n";
  const fs::path csv_path = run_dir / "metrics.csv";
  const bool fresh = !fs::exists(csv_path) || fs::file_size(csv_path) == 0;
  std::ofstream csv(csv_path, std::ios::app);
  if (fresh) csv << csv_header() << "\n";
  csv << csv_row(r) << "\n";
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
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) continue;  // a line cut short by a crash
    for (auto& v : j)
      if (v.is_null()) v = kNotEvaluated;  // NaN was written as null
    out.push_back(j.get<EpochRecord>());
  }
  return out;
}

namespace {

// One gnuplot datablock per run that has records: its name, its label prefix, and which
// held-out splits it has figures for (gnuplot refuses a line with no point at all).
struct Series {
  std::string block, label;
  bool val = false, test = false;
};

// The runs' records as inline datablocks ($run0 << EOD ... EOD), so that plotting leaves no
// data file behind; gnuplot reads whitespace-separated columns, and "nan" as no point.
std::vector<Series> write_series(const std::vector<fs::path>& run_dirs, std::ostringstream& script) {
  std::vector<Series> series;
  for (const auto& dir : run_dirs) {
    const auto records = read_metrics(dir);
    if (records.empty()) continue;
    Series s{"$run" + std::to_string(series.size()), ""};
    script << s.block << " << EOD\n";
    for (const auto& r : records) {
      script << r.epoch << ' ' << r.train_loss << ' ' << r.train_acc << ' ' << r.val_loss << ' ' << r.val_acc << ' '
             << r.test_loss << ' ' << r.test_acc << "\n";
      s.val = s.val || !std::isnan(r.val_acc);
      s.test = s.test || !std::isnan(r.test_acc);
    }
    script << "EOD\n";
    if (run_dirs.size() > 1) s.label = fs::weakly_canonical(dir).filename().string() + " ";
    series.push_back(s);
  }
  return series;
}

// Loss and accuracy side by side, train, validation and test per run, as PNG and as SVG,
// under kOutputs' names in gnuplot's working folder.
void gnuplot_script(const std::vector<Series>& series, std::ostringstream& script) {
  auto lines = [&](int column_of_train, const char* what) {  // loss: column 2, accuracy: column 3
    const char* sep = "";
    for (const auto& s : series) {
      auto line = [&](int column, const std::string& split) {
        script << sep << s.block << " using 1:" << column << " with linespoints title "
               << quote(s.label + split + " " + what);
        sep = ", ";
      };
      line(column_of_train, "train");
      if (s.val) line(column_of_train + 2, "val");
      if (s.test) line(column_of_train + 4, "test");
    }
  };
  auto plots = [&](const char* file) {
    script << "set output " << quote(file) << "\n"
           << "set multiplot layout 1,2\nset xlabel 'epoch'\nset grid\nset key bottom left\n"
           << "set title 'loss'\nplot ";
    lines(2, "loss");
    script << "\nset title 'accuracy'\nset key bottom right\nset yrange [0:1]\nplot ";
    lines(3, "acc");
    script << "\nunset multiplot\nset yrange [*:*]\n";
  };
  script << "set terminal pngcairo size 1200,450 noenhanced\n";
  plots(kOutputs[0]);
  script << "set terminal svg size 1200,450 noenhanced\n";
  plots(kOutputs[1]);
}

// A private folder (mkdtemp: 0700, a fresh name) removed with its contents when done.
class TempDir {
 public:
  TempDir() {
    std::string name = (fs::temp_directory_path() / "nin-dist-plot-XXXXXX").string();
    if (::mkdtemp(name.data())) path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }  // empty when mkdtemp failed

 private:
  fs::path path_;
};

// Moves `from` to `to`, copying where they lie on different file systems.
void move_file(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// Runs gnuplot on `script` in a private temporary folder, where the script writes its
// fixed output names (kOutputs), then moves them into `out_dir`. gnuplot is started from an
// argument vector, with no shell, and no path of the user's is in the script. False with
// `warning` set when gnuplot is missing or fails.
bool run_gnuplot(const std::string& script, const fs::path& out_dir, std::string& warning) {
  const TempDir tmp;
  if (tmp.path().empty() || !(std::ofstream(tmp.path() / "plot.gp") << script)) {
    warning = "cannot write a gnuplot script in " + fs::temp_directory_path().string();
    return false;
  }
  const std::string log = (tmp.path() / "gnuplot.log").string(), dir = tmp.path().string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  char* argv[] = {const_cast<char*>("gnuplot"), const_cast<char*>("plot.gp"), nullptr};
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    warning = spawned == ENOENT ? "gnuplot not found; install gnuplot-nox to get curves.png"
                                : std::string("cannot start gnuplot: ") + std::strerror(spawned);
    return false;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    warning = "gnuplot failed: " + std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return false;
  }
  try {
    for (const char* name : kOutputs) move_file(tmp.path() / name, out_dir / name);
  } catch (const fs::filesystem_error& e) {
    warning = std::string("cannot move the curves into place: ") + e.what();
    return false;
  }
  return true;
}

}  // namespace

bool plot_curves(const std::vector<fs::path>& run_dirs, const fs::path& out_dir, std::string& warning) {
  std::ostringstream script;
  const auto series = write_series(run_dirs, script);
  if (series.empty()) {
    warning = "no metrics.jsonl records to plot";
    return false;
  }
  gnuplot_script(series, script);
  return run_gnuplot(script.str(), out_dir, warning);
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
      << r.train_loss << " acc " << r.train_acc;
  if (!std::isnan(r.val_acc)) out << " | val loss " << r.val_loss << " acc " << r.val_acc;
  if (!std::isnan(r.test_acc)) out << " | test loss " << r.test_loss << " acc " << r.test_acc;
  out << std::setprecision(0) << " | " << r.images_per_s << " img/s | " << std::setprecision(1) << r.epoch_s << " s";
  return out.str();
}

}  // namespace nin::train
