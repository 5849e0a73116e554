#include "report/curves.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "format/atomic_file.h"
#include "rundir/paths.h"

namespace nin::report {
namespace fs = std::filesystem;
namespace {

// Matplotlib's first colours: for one run, train, validation and test; for several, a run each.
constexpr const char* kPalette[] = {"#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr size_t kColors = sizeof kPalette / sizeof kPalette[0];

// One run's lines of a panel: `prefix` names the run ("" when it is the only one), `color`
// is its colour (nullptr: a colour per split).
void add_run(const RunDir& run, const std::string& prefix, const char* color, bool loss, std::vector<Line>& lines) {
  const char* what = loss ? " loss" : " acc";
  Line train{prefix + "train" + what, color ? color : kPalette[0], {}, false, false};
  for (const auto& s : run.steps) train.xy.emplace_back(s.epoch, loss ? s.train_loss : s.train_acc);
  if (run.steps.empty()) {
    for (const auto& e : run.epochs) train.xy.emplace_back(double(e.epoch), loss ? e.train_loss : e.train_acc);
    train.markers = true;
  }
  lines.push_back(std::move(train));
  // Several runs share a colour each: the test line is dotted, to be told from validation's.
  auto split = [&](const char* name, const char* split_color, double rundir::EpochRecord::*field, bool test) {
    Line l{prefix + name + what, color ? color : split_color, {}, /*dashed=*/true, /*markers=*/true, test && color};
    bool any = false;
    for (const auto& e : run.epochs) {
      l.xy.emplace_back(double(e.epoch), e.*field);
      any = any || std::isfinite(e.*field);
    }
    if (any) lines.push_back(std::move(l));  // none for a split the run never evaluated
  };
  split("val", kPalette[1], loss ? &rundir::EpochRecord::val_loss : &rundir::EpochRecord::val_acc, false);
  split("test", kPalette[2], loss ? &rundir::EpochRecord::test_loss : &rundir::EpochRecord::test_acc, true);
}

}  // namespace

CurveLines curve_lines(const std::vector<const RunDir*>& runs) {
  CurveLines out;
  for (size_t i = 0; i < runs.size(); ++i) {
    const bool several = runs.size() > 1;
    const std::string prefix = several ? fs::weakly_canonical(fs::absolute(runs[i]->dir)).filename().string() + " " : "";
    const char* color = several ? kPalette[i % kColors] : nullptr;
    add_run(*runs[i], prefix, color, true, out.loss);
    add_run(*runs[i], prefix, color, false, out.acc);
  }
  return out;
}

std::string curves_svg(const std::vector<RunDir>& runs) {
  std::vector<const RunDir*> pointers;
  for (const auto& run : runs) pointers.push_back(&run);
  const CurveLines lines = curve_lines(pointers);
  const std::string loss = line_chart("loss", lines.loss, /*unit_y=*/false);
  const std::string acc = line_chart("accuracy", lines.acc, /*unit_y=*/true);
  const double w = kChartWidth, h = chart_height(std::max(lines.loss.size(), lines.acc.size()));
  std::ostringstream s;  // the panels as nested <svg> elements, side by side
  s << "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='" << 2 * w
    << "' height='" << h << "' viewBox='0 0 " << 2 * w << " " << h << "'><title>loss and accuracy</title><style>"
    << kChartStyle << "</style><rect width='100%' height='100%' fill='white'/><g>" << loss
    << "</g><g transform='translate(" << w << ",0)'>" << acc << "</g></svg>\n";
  return s.str();
}

std::optional<fs::path> write_curves(const std::vector<fs::path>& run_dirs, const fs::path& out_dir) {
  std::vector<RunDir> runs;
  for (const auto& dir : run_dirs)
    if (auto run = read_run_records(dir); !run.epochs.empty()) runs.push_back(std::move(run));
  if (runs.empty()) return std::nullopt;
  const fs::path out = out_dir / rundir::kCurves;
  format::write_atomically(out, {curves_svg(runs)}, "curves");
  return out;
}

}  // namespace nin::report
