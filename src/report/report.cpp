#include "report/report.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <kainjow/mustache.hpp>

#include "format/atomic_file.h"
#include "report/curves.h"
#include "report/report_template.h"
#include "report/svg.h"
#include "rundir/paths.h"
#include "util/utc_now.h"

namespace nin::report {
namespace fs = std::filesystem;
namespace mu = kainjow::mustache;
namespace {

// "%.*f", or "-" for a figure not measured.
std::string num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "-";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

// "%.*g": `digits` significant digits, for a figure that spans decades (a decayed lr is 2e-06,
// not 0.000000); "-" when not measured.
std::string significant(double v, int digits = 3) {
  if (!std::isfinite(v)) return "-";
  char text[64];
  std::snprintf(text, sizeof text, "%.*g", digits, v);
  return text;
}

void add_curves(const RunDir& run, mu::data& page) {
  page.set("has_epochs", !run.epochs.empty());
  if (run.epochs.empty()) return;
  const CurveLines lines = curve_lines({&run});
  page.set("loss_svg", line_chart("loss", lines.loss, /*unit_y=*/false));
  page.set("acc_svg", line_chart("accuracy", lines.acc, /*unit_y=*/true));
  mu::data rows{mu::data::type::list};
  for (const auto& e : run.epochs) {
    mu::data r;
    r.set("epoch", std::to_string(e.epoch));
    r.set("step", std::to_string(e.step));
    r.set("train_loss", num(e.train_loss));
    r.set("train_acc", num(e.train_acc));
    r.set("val_acc", num(e.val_acc));
    r.set("test_acc", num(e.test_acc));
    r.set("lr", significant(e.lr));
    r.set("images_per_s", num(e.images_per_s, 0));
    r.set("epoch_s", num(e.epoch_s, 1));
    // 0: a run that did not record it
    r.set("peak_mib", e.peak_mem_bytes > 0 ? num(double(e.peak_mem_bytes) / (1024.0 * 1024.0), 0) : "-");
    r.set("mfu", num(e.mfu, 3));
    rows.push_back(r);
  }
  page.set("epochs", rows);
}

// "epoch 3 of the run: train loss ..., test acc ...": the last record in a line.
std::string summary(const RunDir& run) {
  if (run.epochs.empty()) return "No epoch has ended yet.";
  const rundir::EpochRecord& e = run.epochs.back();
  std::string s = "After epoch " + std::to_string(e.epoch) + " (global step " + std::to_string(e.step) +
                  "): train loss " + num(e.train_loss) + ", train accuracy " + num(e.train_acc);
  if (std::isfinite(e.val_acc)) s += ", validation accuracy " + num(e.val_acc);
  if (std::isfinite(e.test_acc)) s += ", test accuracy " + num(e.test_acc);
  return s + ".";
}

// run.json's build and ranks as rows; absent when the run did not write one.
void add_run_info(const RunDir& run, mu::data& page) {
  const auto& info = run.run_info;
  page.set("has_run_info", info.is_object());
  if (!info.is_object()) return;
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  mu::data build{mu::data::type::list};
  auto add = [&](const std::string& key, const std::string& value) {
    mu::data row;
    row.set("key", key);
    row.set("value", value);
    build.push_back(row);
  };
  for (const char* key : {"world_size", "nodes", "started"})
    if (info.contains(key)) add(key, text(info[key]));
  if (const auto b = info.find("build"); b != info.end() && b->is_object())
    for (const auto& [key, value] : b->items()) add(key, text(value));
  page.set("build", build);
  mu::data ranks{mu::data::type::list};
  if (const auto r = info.find("ranks"); r != info.end() && r->is_array())
    for (const auto& rank : *r) {
      mu::data row;
      for (const char* key : {"rank", "host", "device"}) row.set(key, rank.contains(key) ? text(rank[key]) : "");
      ranks.push_back(row);
    }
  page.set("ranks", ranks);
}

void add_checkpoints(const RunDir& run, mu::data& page) {
  page.set("has_checkpoints", !run.checkpoints.empty());
  mu::data list{mu::data::type::list};
  for (const auto& c : run.checkpoints) {
    mu::data row;
    row.set("name", c.name);
    row.set("step", c.step >= 0 ? std::to_string(c.step) : "?");
    row.set("mb", num(double(c.bytes) / (1024.0 * 1024.0), 1));
    list.push_back(row);
  }
  page.set("checkpoints", list);
}

}  // namespace

std::string render_report(const RunDir& run, const std::string& writer) {
  mu::data page;
  const fs::path abs = fs::weakly_canonical(fs::absolute(run.dir));
  page.set("run_name", abs.filename().string());
  page.set("run_dir", abs.string());
  page.set("written", util::utc_now("%Y-%m-%d %H:%M:%S UTC"));
  page.set("writer", writer);
  page.set("summary", summary(run));
  page.set("chart_style", kChartStyle);
  add_curves(run, page);
  page.set("has_confusion", run.confusion.has_value());
  if (run.confusion) {
    page.set("confusion_svg", heat_map(*run.confusion));
    page.set("confusion_split", run.confusion->split == "val" ? "validation" : run.confusion->split);
    page.set("confusion_epoch", std::to_string(run.confusion->epoch));
  }
  const bool trace = run.trace && !run.trace->spans.empty();
  page.set("has_trace", trace);
  if (trace) {
    page.set("timeline_svg", gantt(*run.trace));
    page.set("trace_steps", run.trace->trace_steps.empty() ? "?" : run.trace->trace_steps);
  }
  page.set("trace_error",
           run.trace_error.empty() ? "" : " (" + std::string(rundir::kTrace) + " could not be read: " + run.trace_error + ")");
  page.set("config", run.config.empty() ? "(no " + std::string(rundir::kConfig) + ")" : run.config);
  add_run_info(run, page);
  add_checkpoints(run, page);

  mu::mustache tmpl{kReportTemplate};
  if (!tmpl.is_valid()) throw std::logic_error("report.html.mustache: " + tmpl.error_message());
  std::string html = tmpl.render(page);
  if (!tmpl.is_valid()) throw std::logic_error("report.html.mustache: " + tmpl.error_message());
  return html;
}

fs::path write_report(const fs::path& run_dir, const std::string& writer) {
  const std::string html = render_report(read_run_dir(run_dir), writer);
  const fs::path out = run_dir / rundir::kReport;
  format::write_atomically(out, {html}, "report");
  return out;
}

}  // namespace nin::report
