#include "run/metrics.h"

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

#include "format/atomic_file.h"

namespace nin::run {
namespace fs = std::filesystem;

// EpochRecord's fields, in metrics.csv's column order. The JSON line holds the same keys
// (sorted, as nlohmann::json orders them); a key missing when read takes EpochRecord's default.
#define NIN_EPOCH_RECORD_FIELDS \
  epoch, step, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, lr, images_per_s, epoch_s, \
      comm_wait_s, peak_mem_bytes, flops_per_image, mfu, grad_norm_mean, grad_norm_max, world_size, class_acc, val_class_acc
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochRecord, NIN_EPOCH_RECORD_FIELDS)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepRecord, epoch, step, train_loss, train_acc, lr)

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

namespace {

// Each line of `path` that parses as JSON, in order; a line cut short by a crash is skipped.
template <typename F>
void for_each_json_line(const fs::path& path, F&& f) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) f(j);
  }
}

}  // namespace

std::vector<EpochRecord> read_metrics(const fs::path& run_dir) {
  std::vector<EpochRecord> out;
  for_each_json_line(run_dir / "metrics.jsonl", [&](nlohmann::json& j) {
    for (auto& v : j)
      if (v.is_null()) v = kNotEvaluated;  // NaN was written as null
    out.push_back(j.get<EpochRecord>());
  });
  return out;
}

void trim_metrics(const fs::path& run_dir, int64_t epoch) {
  if (!fs::exists(run_dir / "metrics.jsonl")) return;
  const auto records = read_metrics(run_dir);
  if (std::none_of(records.begin(), records.end(), [&](const EpochRecord& r) { return r.epoch > epoch; })) return;
  std::string jsonl, csv = csv_header() + "\n";
  for (const auto& r : records)
    if (r.epoch <= epoch) jsonl += nlohmann::json(r).dump() + "\n", csv += csv_row(r) + "\n";
  format::write_atomically(run_dir / "metrics.jsonl", {jsonl}, "epoch records");
  format::write_atomically(run_dir / "metrics.csv", {csv}, "epoch records");
}

void append_step(const fs::path& run_dir, const StepRecord& r) {
  std::ofstream jsonl(run_dir / "steps.jsonl", std::ios::app);
  jsonl << nlohmann::json(r).dump() << "\n";
  jsonl.flush();
  if (!jsonl)
    throw std::runtime_error("cannot append to " + (run_dir / "steps.jsonl").string() + ": " + std::strerror(errno));
}

std::vector<StepRecord> read_steps(const fs::path& run_dir) {
  std::vector<StepRecord> out;
  for_each_json_line(run_dir / "steps.jsonl", [&](const nlohmann::json& j) {
    if (j.is_object()) out.push_back(j.get<StepRecord>());
  });
  return out;
}

void trim_steps(const fs::path& run_dir, int64_t step) {
  const fs::path path = run_dir / "steps.jsonl";
  if (!fs::exists(path)) return;
  std::string kept;
  for (const auto& r : read_steps(run_dir))
    if (r.step <= step) kept += nlohmann::json(r).dump() + "\n";
  format::write_atomically(path, {kept}, "step records");
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
    std::ostringstream loss;  // "-" until the epoch's first record
    loss << std::fixed << std::setprecision(4) << running_loss;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * step / std::max<int64_t>(steps_, 1));
    line << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << step << "/" << steps_
         << " loss " << (std::isnan(running_loss) ? std::string("-") : loss.str())
         << std::setprecision(0) << " | " << images_per_s << " img/s | ETA " << eta << " s";
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

}  // namespace nin::run
