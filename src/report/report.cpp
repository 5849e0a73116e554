#include "report/report.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <kainjow/mustache.hpp>

#include "format/atomic_file.h"
#include "report/report_template.h"
#include "report/svg.h"
#include "util/utc_now.h"

namespace nin::report {
namespace fs = std::filesystem;
namespace mu = kainjow::mustache;
namespace {

// Matplotlib's first colours, one per kind of figure.
constexpr const char* kTrainColor = "#1f77b4";
constexpr const char* kValColor = "#2ca02c";
constexpr const char* kTestColor = "#d62728";

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

// Training figures at fractional epochs: steps.jsonl, or the epoch records in a run without one.
Line train_line(const RunDir& run, bool loss) {
  Line l{loss ? "train loss" : "train acc", kTrainColor, {}, false, false};
  for (const auto& s : run.steps) l.xy.emplace_back(s.epoch, loss ? s.train_loss : s.train_acc);
  if (run.steps.empty()) {
    for (const auto& e : run.epochs) l.xy.emplace_back(double(e.epoch), loss ? e.train_loss : e.train_acc);
    l.markers = true;
  }
  return l;
}

// A held-out split's figure per epoch; empty when the run never evaluated it.
void add_split(const RunDir& run, std::vector<Line>& lines, const char* label, const char* color,
               double EpochRow::*field) {
  Line l{label, color, {}, /*dashed=*/true, /*markers=*/true};
  bool any = false;
  for (const auto& e : run.epochs) {
    l.xy.emplace_back(double(e.epoch), e.*field);
    any = any || std::isfinite(e.*field);
  }
  if (any) lines.push_back(std::move(l));
}

void add_curves(const RunDir& run, mu::data& page) {
  page.set("has_epochs", !run.epochs.empty());
  if (run.epochs.empty()) return;
  std::vector<Line> loss{train_line(run, true)}, acc{train_line(run, false)};
  add_split(run, loss, "val loss", kValColor, &EpochRow::val_loss);
  add_split(run, loss, "test loss", kTestColor, &EpochRow::test_loss);
  add_split(run, acc, "val acc", kValColor, &EpochRow::val_acc);
  add_split(run, acc, "test acc", kTestColor, &EpochRow::test_acc);
  page.set("loss_svg", line_chart("loss", loss, /*unit_y=*/false));
  page.set("acc_svg", line_chart("accuracy", acc, /*unit_y=*/true));
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
    r.set("peak_mib", num(e.peak_mem_bytes / (1024.0 * 1024.0), 0));
    r.set("mfu", num(e.mfu, 3));
    rows.push_back(r);
  }
  page.set("epochs", rows);
}

// "epoch 3 of the run: train loss ..., test acc ...": the last record in a line.
std::string summary(const RunDir& run) {
  if (run.epochs.empty()) return "No epoch has ended yet.";
  const EpochRow& e = run.epochs.back();
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
  page.set("trace_error", run.trace_error.empty() ? "" : " (trace.json could not be read: " + run.trace_error + ")");
  page.set("config", run.config.empty() ? "(no config.toml)" : run.config);
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
  const fs::path out = run_dir / "report.html";
  format::write_atomically(out, {html}, "report");
  return out;
}

}  // namespace nin::report
