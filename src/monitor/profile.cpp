// The profile's window, its events, and profile.md.
#include "monitor/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

#include <torch/cuda.h>

#include "config/config_rules.h"
#include "format/atomic_file.h"
#include "monitor/profiler_backend.h"
#include "rundir/paths.h"

namespace nin::monitor {
namespace {

namespace prof = torch::autograd::profiler;
constexpr size_t kTopKernels = 40;  // rows of profile.md's device table (NiN's step has fewer kernels)
constexpr size_t kTopOps = 30;

// LibTorch 2 gives an event's times in ns (startNs, durationNs), 1.13 in us (startUs,
// durationUs): overload resolution picks the one this LibTorch has (int beats long).
template <class E>
auto start_us(const E& e, int) -> decltype(double(e.startNs())) { return double(e.startNs()) / 1e3; }
template <class E>
double start_us(const E& e, long) { return double(e.startUs()); }
template <class E>
auto duration_us(const E& e, int) -> decltype(double(e.durationNs())) { return double(e.durationNs()) / 1e3; }
template <class E>
double duration_us(const E& e, long) { return double(e.durationUs()); }

std::vector<ProfiledEvent> events_of(const prof::ProfilerResult& result) {
  std::vector<ProfiledEvent> events;
  for (const auto& e : result.events()) {
    const bool device = e.deviceType() != c10::DeviceType::CPU;
    events.push_back({e.name(), device, device ? uint64_t(e.deviceResourceId()) : e.startThreadId(),
                      start_us(e, 0), duration_us(e, 0)});
  }
  return events;
}

std::vector<ProfileRow> sorted_rows(const std::map<std::string, ProfileRow>& by_name) {
  std::vector<ProfileRow> rows;
  for (const auto& [name, row] : by_name) rows.push_back(row);
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.total_us > b.total_us; });
  return rows;
}

std::string cell(const std::string& name) {  // a Markdown table cell: a '|' would split it
  std::string out;
  for (const char c : name) out += c == '|' ? "\\|" : c == '\n' ? " " : std::string(1, c);
  return out;
}

std::string fixed(double v, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

double sum_us(const std::vector<ProfileRow>& rows) {
  double total = 0;
  for (const auto& r : rows) total += r.total_us;
  return total;
}

}  // namespace

std::vector<ProfileRow> device_time(const std::vector<ProfiledEvent>& events) {
  std::map<std::string, ProfileRow> by_name;
  for (const auto& e : events) {
    if (!e.on_device) continue;
    auto& row = by_name[e.name];
    row.name = e.name, row.count += 1, row.total_us += e.dur_us;
  }
  return sorted_rows(by_name);
}

std::vector<ProfileRow> host_self_time(const std::vector<ProfiledEvent>& events) {
  std::vector<const ProfiledEvent*> host;
  for (const auto& e : events)
    if (!e.on_device) host.push_back(&e);
  // Per thread, by start, an enclosing event before the events it encloses.
  std::stable_sort(host.begin(), host.end(), [](const auto* a, const auto* b) {
    if (a->thread != b->thread) return a->thread < b->thread;
    if (a->start_us != b->start_us) return a->start_us < b->start_us;
    return a->dur_us > b->dur_us;
  });
  std::vector<double> self(host.size());
  std::vector<size_t> open;  // the enclosing events of the current one, innermost last
  for (size_t i = 0; i < host.size(); ++i) {
    const ProfiledEvent& e = *host[i];
    self[i] = e.dur_us;
    const auto end_of = [&](size_t j) { return host[j]->start_us + host[j]->dur_us; };
    while (!open.empty() && (host[open.back()]->thread != e.thread || end_of(open.back()) <= e.start_us))
      open.pop_back();
    if (!open.empty())  // the parent's self time loses the part of this event inside it
      self[open.back()] -= std::min(e.start_us + e.dur_us, end_of(open.back())) - e.start_us;
    open.push_back(i);
  }
  std::map<std::string, ProfileRow> by_name;
  for (size_t i = 0; i < host.size(); ++i) {
    auto& row = by_name[host[i]->name];
    row.name = host[i]->name, row.count += 1, row.total_us += std::max(0.0, self[i]);
  }
  return sorted_rows(by_name);
}

std::string profile_table(const std::vector<ProfileRow>& rows, int64_t steps, size_t top) {
  const double total = sum_us(rows);
  const double per_step = 1.0 / double(std::max<int64_t>(steps, 1));
  const auto line = [&](const std::string& name, int64_t count, double us) {
    return "| " + cell(name) + " | " + std::to_string(count) + " | " + fixed(us / 1e3, 3) + " | " +
           fixed(us / 1e3 * per_step, 3) + " | " + fixed(total > 0 ? 100 * us / total : 0, 1) + " |\n";
  };
  std::string out = "| name | count | total ms | ms/step | % |\n| --- | ---: | ---: | ---: | ---: |\n";
  int64_t count = 0, rest_count = 0;
  double rest_us = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    count += rows[i].count;
    if (i < top) {
      out += line(rows[i].name, rows[i].count, rows[i].total_us);
    } else {
      rest_count += rows[i].count, rest_us += rows[i].total_us;
    }
  }
  if (rows.size() > top) out += line("(" + std::to_string(rows.size() - top) + " others)", rest_count, rest_us);
  return out + line("(total)", count, total);
}

std::unique_ptr<Profile> Profile::from_config(const config::Config& cfg, const torch::Device& device, int rank,
                                              std::filesystem::path dir,
                                              std::function<void(const std::string&)> say) {
  const auto range = config::rules::parse_step_range(cfg.profile_steps);
  if (!range || rank != 0) return nullptr;  // "": off (validate() refused anything else)
  return std::make_unique<Profile>(cfg.profile_steps, range->first, range->second, device, std::move(dir),
                                   std::move(say));
}

Profile::Profile(std::string steps, int64_t first, int64_t last, const torch::Device& device,
                 std::filesystem::path dir, std::function<void(const std::string&)> say)
    : steps_(std::move(steps)), first_(first), last_(last), device_(device), dir_(std::move(dir)),
      say_(std::move(say)) {}

Profile::~Profile() {
  if (!on_) return;
  try {
    range_.reset();
    (void)prof::disableProfiler();
  } catch (...) {  // no throw from a destructor: the profile is lost, the run's outcome stands
  }
}

void Profile::start_step(int64_t step) {
  if (done_) return;
  if (!on_ && step >= first_ && step <= last_) open();
  step_ = step;
  if (!on_) return;
  ++recorded_;
  range_.emplace(at::RecordScope::USER_SCOPE);  // the step as one range in profile.json
  if (range_->isActive()) range_->before("nin::step", c10::ArrayRef<const c10::IValue>{});
}

void Profile::end_step() {
  range_.reset();
  if (on_ && step_ >= last_) close();
}

void Profile::end_epoch() {
  range_.reset();
  if (on_) close();
  done_ = true;
}

void Profile::open() {
  using torch::profiler::impl::ProfilerConfig;
  using torch::profiler::impl::ProfilerState;
  // Host sync: the queue of earlier steps drains first, so that none of their kernels is
  // counted in the window (outside the timed epochs when the window is in the warm-up one).
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
  const ProfilerConfig config(ProfilerState::KINETO);
  const auto activities = profiler_activities(device_);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  on_ = true;
}

void Profile::close() {
  range_.reset();
  // Host sync: the window's kernels finish before the profiler stops, so that all are in it.
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
  const auto result = prof::disableProfiler();
  on_ = false;
  done_ = true;
  const auto events = events_of(*result);
  write_chrome_trace(*result, events, dir_ / rundir::kProfile, steps_);

  const auto kernels = device_time(events);
  const auto ops = host_self_time(events);
  const double per_step = 1e-3 / double(std::max<int64_t>(recorded_, 1));  // us -> ms per step
  std::string md = "# Profile of steps " + steps_ + " (rank 0)\n\n" + std::to_string(recorded_) +
                   " steps on " + device_.str() + ", recorded by " + profiler_kind(device_) +
                   "; the Chrome trace is " + rundir::kProfile + " (chrome://tracing, ui.perfetto.dev).\n";
  if (!kernels.empty())
    md += "Device time: " + fixed(sum_us(kernels) * per_step, 3) +
          " ms per step, every stream's kernels, memcpys and memsets summed (streams overlap).\n";
  md += "Host self time: " + fixed(sum_us(ops) * per_step, 3) +
        " ms per step on the profiled threads (nin::step's own: host time outside any op).\n";
  if (!kernels.empty()) md += "\n## Kernels by device time\n\n" + profile_table(kernels, recorded_, kTopKernels);
  md += "\n## Ops by host self time\n\n" + profile_table(ops, recorded_, kTopOps);
  const auto table = dir_ / rundir::kProfileTable;
  format::write_atomically(table, {md}, "profile");
  say_("profile: steps " + steps_ + " of rank 0 written to " + (dir_ / rundir::kProfile).string() + " and " +
       table.string());
}

}  // namespace nin::monitor
