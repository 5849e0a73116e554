// The report's charts as inline SVG: line charts against epochs, the confusion heat map, a trace's Gantt.
#pragma once

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
};

// One panel: x from 0 to the last epoch with ticks at whole epochs, y from 0 to 1 when
// `unit_y`, else to the largest value; a legend under it.
std::string line_chart(const std::string& title, const std::vector<Line>& lines, bool unit_y);

// Counts coloured by their share of the true class's row; per-class accuracy on the right.
std::string heat_map(const Confusion& confusion);

// One row per rank and lane (compute, communication), time in ms from the first span,
// a colour per span name; each bar's tooltip names the span, its step and duration.
std::string gantt(const Trace& trace);

}  // namespace nin::report
