// The trace's window, its spans, and trace.json in Chrome's trace event format.
#include "monitor/trace.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "config/config_rules.h"
#include "dist/communicator.h"
#include "dist/where.h"
#include "format/atomic_file.h"
#include "rundir/paths.h"

namespace nin::monitor {
namespace {

constexpr int kComputeLane = 0;  // tid
constexpr int kCommLane = 1;
constexpr int64_t kColumns = 6;  // phase, step, bucket, bytes, ts (us), dur (us)

// Chrome's trace event format: per rank (pid) its name and lanes, then its spans; `all`
// holds each rank's [n, kColumns] rows (Communicator::allgather), `hosts` their names.
nlohmann::json chrome_trace(const std::vector<torch::Tensor>& all, const std::vector<std::string>& hosts,
                            const std::string& steps) {
  using nlohmann::json;
  const auto world = int(all.size());
  json events = json::array();
  for (int pid = 0; pid < world; ++pid) {
    const std::string& h = hosts[size_t(pid)];
    events.push_back(
        {{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"args", {{"name", dist::rank_on_host(pid, h)}}}});
    events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"args", {{"sort_index", pid}}}});
    for (const auto& [tid, lane] : {std::pair{kComputeLane, "compute"}, std::pair{kCommLane, "communication"}})
      events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", lane}}}});
    const auto& mine = all[size_t(pid)];
    const auto v = mine.accessor<double, 2>();
    for (int64_t i = 0; i < mine.size(0); ++i) {
      const auto phase = static_cast<Phase>(int(v[i][0]));
      const bool comm = phase == Phase::kAllreduce;
      json event = {{"name", phase_name(phase)}, {"cat", comm ? "comm" : "compute"}, {"ph", "X"},
                    {"ts", v[i][4]}, {"dur", v[i][5]}, {"pid", pid}, {"tid", comm ? kCommLane : kComputeLane},
                    {"args", {{"step", int64_t(v[i][1])}}}};
      if (comm) {
        const auto bucket = int64_t(v[i][2]);
        event["name"] = "allreduce bucket " + std::to_string(bucket);
        event["args"]["bucket"] = bucket;
        event["args"]["bytes"] = int64_t(v[i][3]);
      }
      events.push_back(std::move(event));
    }
  }
  return {{"traceEvents", std::move(events)},
          {"displayTimeUnit", "ms"},
          {"otherData", {{"trace_steps", steps}, {"world_size", world}}}};
}

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kData: return "data";
    case Phase::kForward: return "forward";
    case Phase::kBackward: return "backward";
    case Phase::kFinalizeWait: return "finalize wait";
    case Phase::kOptimizer: return "optimizer";
    case Phase::kCheckpoint: return "checkpoint";
    case Phase::kEvaluate: return "evaluate";
    case Phase::kEpochEnd: return "epoch end";
    case Phase::kAllreduce: return "allreduce";
  }
  return "?";
}

std::unique_ptr<Trace> Trace::from_config(const config::Config& cfg, const torch::Device& device,
                                          dist::Communicator& control, int rank, std::filesystem::path dir,
                                          std::function<void(const std::string&)> say) {
  const auto range = config::rules::parse_step_range(cfg.trace_steps);
  if (!range) return nullptr;  // "": off (validate() refused anything else)
  return std::make_unique<Trace>(cfg.trace_steps, range->first, range->second, make_trace_clock(device), control,
                                 rank, std::move(dir), std::move(say));
}

Trace::Trace(std::string steps, int64_t first, int64_t last, std::unique_ptr<TraceClock> clock,
             dist::Communicator& control, int rank, std::filesystem::path dir,
             std::function<void(const std::string&)> say)
    : steps_(std::move(steps)), first_(first), last_(last), clock_(std::move(clock)), control_(control), rank_(rank),
      dir_(std::move(dir)), say_(std::move(say)) {}

void Trace::start_step(int64_t step) {
  if (done_) return;
  if (!on_ && step >= first_ && step <= last_) open();  // every rank runs the same steps: the same one
  step_ = step;
}

void Trace::end_step() {
  if (on_ && step_ >= last_) close();
}

void Trace::end_epoch() {
  if (on_) close();
  done_ = true;
}

void Trace::open() {
  clock_->drain();  // a GPU's queue empties first, so that time 0 is now on the device too
  control_.barrier();
  clock_->origin();
  on_ = true;
}

void Trace::add(Phase phase, size_t begin, size_t end) {
  records_.push_back({phase, step_, -1, 0, begin, end});
}

void Trace::launched(size_t bucket, int64_t bytes) {
  if (!on_) return;
  if (pending_.size() <= bucket) pending_.resize(bucket + 1);
  pending_[bucket] = {true, mark(), bytes, step_};
}

void Trace::completed(size_t bucket) {
  if (!on_ || bucket >= pending_.size() || !pending_[bucket].open) return;
  Pending& p = pending_[bucket];
  records_.push_back({Phase::kAllreduce, p.step, int64_t(bucket), p.bytes, p.begin, mark()});
  p.open = false;
}

void Trace::close() {
  on_ = false;
  done_ = true;
  const std::vector<double> us = clock_->resolve();
  auto rows = torch::zeros({int64_t(records_.size()), kColumns}, torch::kDouble);
  auto r = rows.accessor<double, 2>();
  for (size_t i = 0; i < records_.size(); ++i) {
    const Record& rec = records_[i];
    const double values[kColumns] = {double(rec.phase), double(rec.step), double(rec.bucket), double(rec.bytes),
                                     us[rec.begin], us[rec.end] - us[rec.begin]};
    for (int64_t c = 0; c < kColumns; ++c) r[int64_t(i)][c] = values[c];
  }
  records_.clear();
  // Collectives: every rank closes the window at the same step.
  const auto all = control_.allgather(rows);
  const auto hosts = dist::allgather_strings(control_, dist::this_host());
  if (rank_ != 0) return;
  const auto path = dir_ / rundir::kTrace;
  format::write_atomically(path, {chrome_trace(all, hosts, steps_).dump(1)}, "trace");
  say_("trace: steps " + steps_ + " of every rank written to " + path.string() +
       " (chrome://tracing, ui.perfetto.dev)");
}

}  // namespace nin::monitor
