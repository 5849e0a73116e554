#include "rundir/records.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "format/atomic_file.h"
#include "format/regular_file.h"
#include "rundir/paths.h"
#include "util/input_limit.h"

namespace nin::rundir {
namespace fs = std::filesystem;

// EpochRecord's fields, in metrics.csv's column order. The JSON line holds the same keys
// (sorted, as nlohmann::json orders them); a key missing when read takes EpochRecord's default.
#define NIN_EPOCH_RECORD_FIELDS \
  epoch, step, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, lr, images_per_s, epoch_s, \
      comm_wait_s, peak_mem_bytes, flops_per_image, mfu, grad_norm_mean, grad_norm_max, world_size, class_acc, \
      val_class_acc
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EpochRecord, NIN_EPOCH_RECORD_FIELDS)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepRecord, epoch, step, train_loss, train_acc, lr)

namespace {

constexpr uint64_t kMaxRecordFileBytes = uint64_t{1} << 30;  // bytes: a record file read whole

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

// Each line of `path` that reads as a `Record`, in order (see read_metrics).
template <typename Record>
std::vector<Record> read_records(const fs::path& path) {
  std::vector<Record> out;
  if (!fs::exists(path)) return out;
  std::istringstream in(format::read_regular_file(path, "run record file", input_limit(kMaxRecordFileBytes)));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;  // also a line that does not parse (discarded)
    for (auto& v : j)
      if (v.is_null()) v = kNotEvaluated;  // NaN was written as null
    try {
      out.push_back(j.get<Record>());
    } catch (const nlohmann::json::exception&) {
      // a field of the wrong type: no record of ours
    }
  }
  return out;
}

}  // namespace

void append_metrics(const fs::path& run_dir, const EpochRecord& r) {
  std::ofstream jsonl(run_dir / kMetrics, std::ios::app);
  jsonl << nlohmann::json(r).dump() << "\n";
  const fs::path csv_path = run_dir / kMetricsCsv;
  const bool fresh = !fs::exists(csv_path) || fs::file_size(csv_path) == 0;
  std::ofstream csv(csv_path, std::ios::app);
  if (fresh) csv << csv_header() << "\n";
  csv << csv_row(r) << "\n";
  jsonl.flush();
  csv.flush();
  if (!jsonl || !csv)
    throw std::runtime_error("cannot append metrics in " + run_dir.string() + ": " + std::strerror(errno));
}

std::vector<EpochRecord> read_metrics(const fs::path& run_dir) { return read_records<EpochRecord>(run_dir / kMetrics); }

void trim_metrics(const fs::path& run_dir, int64_t epoch) {
  if (!fs::exists(run_dir / kMetrics)) return;
  const auto records = read_metrics(run_dir);
  if (std::none_of(records.begin(), records.end(), [&](const EpochRecord& r) { return r.epoch > epoch; })) return;
  std::string jsonl, csv = csv_header() + "\n";
  for (const auto& r : records)
    if (r.epoch <= epoch) jsonl += nlohmann::json(r).dump() + "\n", csv += csv_row(r) + "\n";
  format::write_atomically(run_dir / kMetrics, {jsonl}, "epoch records");
  format::write_atomically(run_dir / kMetricsCsv, {csv}, "epoch records");
}

void append_step(const fs::path& run_dir, const StepRecord& r) {
  std::ofstream jsonl(run_dir / kSteps, std::ios::app);
  jsonl << nlohmann::json(r).dump() << "\n";
  jsonl.flush();
  if (!jsonl) throw std::runtime_error("cannot append to " + (run_dir / kSteps).string() + ": " + std::strerror(errno));
}

std::vector<StepRecord> read_steps(const fs::path& run_dir) { return read_records<StepRecord>(run_dir / kSteps); }

void trim_steps(const fs::path& run_dir, int64_t step) {
  const fs::path path = run_dir / kSteps;
  if (!fs::exists(path)) return;
  std::string kept;
  for (const auto& r : read_steps(run_dir))
    if (r.step <= step) kept += nlohmann::json(r).dump() + "\n";
  format::write_atomically(path, {kept}, "step records");
}

}  // namespace nin::rundir
