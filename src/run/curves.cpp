// curves.png and curves.svg: a run's figures drawn by gnuplot, several runs in one figure.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "run/metrics.h"

namespace nin::run {
namespace fs = std::filesystem;
namespace {

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

// One run's data in the script: its datablocks, its legend prefix and colour, and which
// lines it has points for (gnuplot refuses a line with no point at all).
struct Series {
  std::string epochs, steps;  // datablock names; `steps` empty without steps.jsonl
  std::string label;
  int color = 1;  // gnuplot's linetype of the run when there are several
  bool val = false, test = false;
};

// The runs' records as inline datablocks ($epochs0 << EOD ... EOD), so that plotting leaves
// no data file behind; gnuplot reads whitespace-separated columns, and "nan" as no point.
// Sets `last_epoch` to the largest epoch of any run.
std::vector<Series> write_series(const std::vector<fs::path>& run_dirs, std::ostringstream& script,
                                 int64_t& last_epoch) {
  std::vector<Series> series;
  for (const auto& dir : run_dirs) {
    const auto records = read_metrics(dir);
    if (records.empty()) continue;
    const std::string n = std::to_string(series.size());
    Series s{"$epochs" + n, "", "", static_cast<int>(series.size()) + 1};
    script << s.epochs << " << EOD\n";
    for (const auto& r : records) {  // columns: epoch, train loss, acc, val loss, acc, test loss, acc
      script << r.epoch << ' ' << r.train_loss << ' ' << r.train_acc << ' ' << r.val_loss << ' ' << r.val_acc << ' '
             << r.test_loss << ' ' << r.test_acc << "\n";
      s.val = s.val || !std::isnan(r.val_acc);
      s.test = s.test || !std::isnan(r.test_acc);
      last_epoch = std::max(last_epoch, r.epoch);
    }
    script << "EOD\n";
    if (const auto steps = read_steps(dir); !steps.empty()) {
      s.steps = "$steps" + n;
      script << s.steps << " << EOD\n";
      for (const auto& r : steps) script << r.epoch << ' ' << r.train_loss << ' ' << r.train_acc << "\n";
      script << "EOD\n";
    }
    if (run_dirs.size() > 1) s.label = fs::weakly_canonical(dir).filename().string() + " ";
    series.push_back(s);
  }
  return series;
}

// Loss and accuracy side by side, as the seed's d2l Animator draws them: training figures
// at fractional epochs (a solid line), validation (dashed) and test (dotted) per epoch, with
// points; x ticks at whole epochs. As PNG and as SVG, under kOutputs' names in gnuplot's
// working folder.
void gnuplot_script(const std::vector<Series>& series, int64_t last_epoch, std::ostringstream& script) {
  auto lines = [&](bool loss, const char* what) {
    const char* sep = "";
    for (const auto& s : series) {
      // One run: a colour per split; several: a colour per run, the split told by the dashes.
      auto line = [&](const std::string& data, int split, const std::string& name, const char* with) {
        const int color = series.size() == 1 ? split : s.color;
        script << sep << data << " with " << with << " lt " << color << " lw 1.5 title "
               << quote(s.label + name + " " + what);
        sep = ", ";
      };
      if (!s.steps.empty()) line(s.steps + (loss ? " using 1:2" : " using 1:3"), 1, "train", "lines dt 1");
      else line(s.epochs + (loss ? " using 1:2" : " using 1:3"), 1, "train", "linespoints dt 1 pt 7");
      if (s.val) line(s.epochs + (loss ? " using 1:4" : " using 1:5"), 2, "val", "linespoints dt 2 pt 5");
      if (s.test) line(s.epochs + (loss ? " using 1:6" : " using 1:7"), 3, "test", "linespoints dt 3 pt 9");
    }
  };
  const int64_t tick = std::max<int64_t>(1, (last_epoch + 9) / 10);  // whole epochs, at most ~10 ticks
  auto plots = [&](const char* file) {
    script << "set output " << quote(file) << "\n"
           << "set multiplot layout 1,2\nset xlabel 'epoch'\nset grid\nset key bottom left opaque\n"
           << "set xrange [0:" << std::max<int64_t>(last_epoch, 1) << "]\nset xtics " << tick << "\n"
           << "set title 'loss'\nplot ";
    lines(true, "loss");
    script << "\nset title 'accuracy'\nset key bottom right opaque\nset yrange [0:1]\nplot ";
    lines(false, "acc");
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
  int64_t last_epoch = 0;
  const auto series = write_series(run_dirs, script, last_epoch);
  if (series.empty()) {
    warning = "no metrics.jsonl records to plot";
    return false;
  }
  gnuplot_script(series, last_epoch, script);
  return run_gnuplot(script.str(), out_dir, warning);
}

}  // namespace nin::run
