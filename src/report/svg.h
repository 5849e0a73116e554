// The report's charts as inline SVG: line charts against epochs, the confusion heat map, a trace's Gantt.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "report/run_dir.h"

namespace nin::report {

// Text for XML and HTML: & < > " ' as entities, control characters as '?'.
std::string escape(const std::string& text);

struct Line {
  std::string label, color;                    // legend text, CSS colour
  std::vector<std::pair<double, double>> xy;  // x in epochs; NaN y = no point
  bool dashed = false, markers = false;
  bool dotted = false;  // wins over dashed
};

// The charts' CSS classes (title, xt, yt, row, cell, grid, legend): the page's stylesheet
// and curves.svg's <style> hold the same rules.
inline constexpr const char* kChartStyle =
    "svg text { font: 11px system-ui, sans-serif; fill: #333; }\n"
    "svg .title { font-size: 13px; text-anchor: middle; }\n"
    "svg .xt { text-anchor: middle; }\n"
    "svg .yt, svg .row { text-anchor: end; dominant-baseline: middle; }\n"
    "svg .row { dominant-baseline: auto; }\n"
    "svg .cell { text-anchor: middle; }\n"
    "svg .grid { stroke: #e3e3e3; stroke-width: 1; }";

inline constexpr double kChartWidth = 540;  // px: a line chart's width
double chart_height(size_t lines);          // px: a line chart's height, its legend included

// One panel: x from 0 to the last epoch with ticks at whole epochs, y from 0 to 1 when
// `unit_y`, else to the largest value; a legend under it.
std::string line_chart(const std::string& title, const std::vector<Line>& lines, bool unit_y);

// Counts coloured by their share of the true class's row; per-class accuracy on the right.
std::string heat_map(const Confusion& confusion);

// One row per rank and lane (compute, communication), time in ms from the first span,
// a colour per span name; each bar's tooltip names the span, its step and duration.
std::string gantt(const Trace& trace);

}  // namespace nin::report
