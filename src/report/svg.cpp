#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace nin::report {
namespace {

// "%.*f" of `v`, for coordinates and labels.
std::string fixed(double v, int digits = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

// Ticks: about 5 round steps (1, 2 or 5 times a power of ten) from 0 to `top`.
double tick_step(double top) {
  const double raw = std::max(top, 1e-12) / 5;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

// A colour per span name that the trace contract names; others grey.
std::string span_color(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> kColors = {
      {"data", "#9e9e9e"},      {"forward", "#1f77b4"},  {"backward", "#ff7f0e"},  {"finalize", "#d62728"},
      {"optimizer", "#2ca02c"}, {"checkpoint", "#8c564b"}, {"evaluate", "#17becf"}, {"allreduce", "#9467bd"}};
  for (const auto& [prefix, color] : kColors)
    if (name.rfind(prefix, 0) == 0) return color;
  return "#7f7f7f";
}

// The legend key of a span: "allreduce bucket 3" -> "allreduce".
std::string span_kind(const std::string& name) {
  return name.rfind("allreduce", 0) == 0 ? "allreduce" : name;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') ? '?' : c;
    }
  }
  return out;
}

namespace {
constexpr double kChartPlotHeight = 300, kLegendRow = 18;  // px: axes and title; a legend row
}  // namespace

double chart_height(size_t lines) { return kChartPlotHeight + kLegendRow * static_cast<double>(lines); }

std::string line_chart(const std::string& title, const std::vector<Line>& lines, bool unit_y) {
  constexpr double kW = kChartWidth, kH = kChartPlotHeight, kLeft = 50, kRight = 15, kTop = 28, kBottom = 40;  // px
  double x_top = 1, y_top = unit_y ? 1 : 0;
  for (const auto& l : lines)
    for (const auto& [x, y] : l.xy) {
      x_top = std::max(x_top, std::ceil(x - 1e-9));
      if (!unit_y && std::isfinite(y)) y_top = std::max(y_top, y);
    }
  if (!unit_y) y_top = y_top > 0 ? y_top * 1.05 : 1;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto px = [&](double x) { return fixed(kLeft + x / x_top * pw); };
  auto py = [&](double y) { return fixed(kTop + ph - y / y_top * ph); };
  const double legend_h = chart_height(lines.size()) - kH;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kW << "' height='" << kH + legend_h << "' viewBox='0 0 "
    << kW << " " << kH + legend_h << "' role='img'><title>" << escape(title) << "</title>"
    << "<text x='" << kW / 2 << "' y='18' class='title'>" << escape(title) << "</text>";
  const int64_t xt = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(x_top / 10)));  // whole epochs
  for (int64_t e = 0; e <= static_cast<int64_t>(x_top); e += xt)
    s << "<line class='grid' x1='" << px(double(e)) << "' x2='" << px(double(e)) << "' y1='" << kTop << "' y2='"
      << kTop + ph << "'/><text class='xt' x='" << px(double(e)) << "' y='" << kTop + ph + 16 << "'>" << e << "</text>";
  const double yt = tick_step(y_top);
  for (double y = 0; y <= y_top + 1e-9; y += yt)
    s << "<line class='grid' x1='" << kLeft << "' x2='" << kLeft + pw << "' y1='" << py(y) << "' y2='" << py(y)
      << "'/><text class='yt' x='" << kLeft - 5 << "' y='" << py(y) << "'>" << fixed(y, yt < 0.1 ? 2 : 1) << "</text>";
  s << "<text class='xt' x='" << kLeft + pw / 2 << "' y='" << kH - 6 << "'>epoch</text>";
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    std::string path;
    for (const auto& [x, y] : l.xy)
      if (std::isfinite(y)) path += (path.empty() ? "M" : " L") + px(x) + "," + py(y);
    const std::string dash = l.dotted ? " stroke-dasharray='2 3'" : l.dashed ? " stroke-dasharray='6 4'" : "";
    if (!path.empty())
      s << "<path d='" << path << "' fill='none' stroke='" << l.color << "' stroke-width='1.8'" << dash << "/>";
    if (l.markers)
      for (const auto& [x, y] : l.xy)
        if (std::isfinite(y))
          s << "<circle cx='" << px(x) << "' cy='" << py(y) << "' r='3' fill='" << l.color << "'><title>"
            << escape(l.label) << ": epoch " << fixed(x, 2) << ", " << fixed(y, 4) << "</title></circle>";
    const double ly = kH + kLegendRow * double(i) + 4;
    s << "<line x1='" << kLeft << "' x2='" << kLeft + 30 << "' y1='" << ly + 5 << "' y2='" << ly + 5 << "' stroke='"
      << l.color << "' stroke-width='2'" << dash << "/><text class='legend' x='" << kLeft + 38 << "' y='" << ly + 9
      << "'>" << escape(l.label) << "</text>";
  }
  s << "</svg>";
  return s.str();
}

std::string heat_map(const Confusion& c) {
  constexpr double kCell = 44, kLabel = 100, kHead = 90, kAcc = 70;  // px
  const size_t n = c.classes.size();
  const double w = kLabel + kCell * double(n) + kAcc, h = kHead + kCell * double(n) + 10;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h << "' viewBox='0 0 " << w << " " << h
    << "' role='img'><title>confusion matrix</title>";
  for (size_t j = 0; j < n; ++j)  // predicted classes, written upwards
    s << "<text class='col' transform='translate(" << fixed(kLabel + kCell * (double(j) + 0.6)) << "," << kHead - 6
      << ") rotate(-50)'>" << escape(c.classes[j]) << "</text>";
  s << "<text class='col' x='" << kLabel + kCell * double(n) + 8 << "' y='" << kHead - 6 << "'>accuracy</text>";
  for (size_t i = 0; i < n; ++i) {
    int64_t total = 0;
    for (const int64_t v : c.counts[i]) total += v;
    const double y = kHead + kCell * double(i);
    s << "<text class='row' x='" << kLabel - 6 << "' y='" << y + kCell / 2 + 4 << "'>" << escape(c.classes[i])
      << "</text>";
    for (size_t j = 0; j < n; ++j) {
      const double share = total > 0 ? double(c.counts[i][j]) / double(total) : 0;
      const double x = kLabel + kCell * double(j);
      s << "<rect x='" << x << "' y='" << y << "' width='" << kCell - 1 << "' height='" << kCell - 1
        << "' fill='" << (i == j ? "rgba(44,160,44," : "rgba(214,39,40,") << fixed(0.08 + 0.92 * share, 3)
        << ")'><title>true " << escape(c.classes[i]) << ", predicted " << escape(c.classes[j]) << ": "
        << c.counts[i][j] << "</title></rect><text class='cell' x='" << x + kCell / 2 << "' y='" << y + kCell / 2 + 4
        << "'>" << c.counts[i][j] << "</text>";
    }
    const double acc = total > 0 ? double(c.counts[i][i]) / double(total) : 0;
    s << "<text class='acc' x='" << kLabel + kCell * double(n) + 8 << "' y='" << y + kCell / 2 + 4 << "'>"
      << fixed(acc, 3) << "</text>";
  }
  s << "</svg>";
  return s.str();
}

std::string gantt(const Trace& t) {
  constexpr double kW = 1100, kRow = 22, kTop = 10, kAxis = 30, kCharW = 6.5;  // px; kCharW: of an 11 px label
  std::set<std::pair<int, int>> rows;  // (rank, lane)
  double t0 = INFINITY, t1 = -INFINITY;
  for (const auto& sp : t.spans) {
    rows.insert({sp.rank, sp.lane});
    t0 = std::min(t0, sp.start_us);
    t1 = std::max(t1, sp.start_us + sp.dur_us);
  }
  if (rows.empty()) return "";
  std::map<int, std::string> names(t.rank_names.begin(), t.rank_names.end());
  std::map<std::pair<int, int>, size_t> row_of;
  std::map<std::pair<int, int>, std::string> label_of;  // "rank 0 (host h) compute"
  size_t longest = 0;
  for (const auto& r : rows) {
    row_of.emplace(r, row_of.size());
    const std::string name = names.count(r.first) ? names[r.first] : "rank " + std::to_string(r.first);
    label_of[r] = name + (r.second == 0 ? " compute" : r.second == 1 ? " comm" : " lane " + std::to_string(r.second));
    longest = std::max(longest, label_of[r].size());
  }
  const double kLabel = std::min(kCharW * double(longest) + 12, kW / 3);
  const double span_ms = std::max((t1 - t0) / 1000.0, 1e-3), pw = kW - kLabel - 10;
  auto px = [&](double us) { return kLabel + (us - t0) / 1000.0 / span_ms * pw; };
  std::set<std::string> kinds;
  for (const auto& sp : t.spans) kinds.insert(span_kind(sp.name));
  const double plot_h = kRow * double(rows.size());
  const double h = kTop + plot_h + kAxis + 20.0 * std::ceil(double(kinds.size()) / 6);  // legend: 6 kinds a row
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kW << "' height='" << h << "' viewBox='0 0 " << kW << " "
    << h << "' role='img'><title>timeline</title>";
  for (const auto& [key, i] : row_of) {
    const double y = kTop + kRow * double(i);
    s << "<text class='row' x='" << kLabel - 6 << "' y='" << y + 15 << "'>" << escape(label_of[key])
      << "</text><line class='grid' x1='" << kLabel << "' x2='" << kW - 10 << "' y1='" << y + kRow << "' y2='"
      << y + kRow << "'/>";
  }
  for (const auto& sp : t.spans) {
    const double y = kTop + kRow * double(row_of[{sp.rank, sp.lane}]) + 3;
    s << "<rect x='" << fixed(px(sp.start_us), 2) << "' y='" << y << "' width='"
      << fixed(std::max(sp.dur_us / 1000.0 / span_ms * pw, 0.5), 2) << "' height='" << kRow - 6 << "' fill='"
      << span_color(sp.name) << "'><title>" << escape(sp.name)
      << (sp.step >= 0 ? ", step " + std::to_string(sp.step) : "") << ": " << fixed(sp.dur_us / 1000.0, 3) << " ms</title></rect>";
  }
  const double ay = kTop + plot_h, step = tick_step(span_ms);
  for (double ms = 0; ms <= span_ms + 1e-9; ms += step)
    s << "<text class='xt' x='" << fixed(kLabel + ms / span_ms * pw) << "' y='" << ay + 16 << "'>"
      << fixed(ms, step < 1 ? 2 : 0) << "</text>";
  s << "<text class='xt' x='" << kLabel - 30 << "' y='" << ay + 16 << "'>ms</text>";
  size_t k = 0;
  for (const auto& kind : kinds) {
    const double x = kLabel + 150.0 * double(k % 6), y = ay + kAxis + 20.0 * double(k / 6);
    s << "<rect x='" << x << "' y='" << y - 10 << "' width='12' height='12' fill='" << span_color(kind)
      << "'/><text class='legend' x='" << x + 16 << "' y='" << y << "'>" << escape(kind) << "</text>";
    ++k;
  }
  s << "</svg>";
  return s.str();
}

}  // namespace nin::report
