// The loss and accuracy curves of one run or several: the page's charts and curves.svg, one
// renderer (svg.h's line_chart), no external program.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "report/run_dir.h"
#include "report/svg.h"

namespace nin::report {

// The two panels' lines. Training figures at fractional epochs (steps.jsonl, or the epoch
// records in a run without one), validation (dashed) and test (dotted) per epoch where
// evaluated. One run: a colour per split; several: a colour per run, each line's label
// starting with its run's directory name.
struct CurveLines {
  std::vector<Line> loss, acc;
};
CurveLines curve_lines(const std::vector<const RunDir*>& runs);

// curves.svg: the loss and accuracy panels side by side in one standalone SVG document.
std::string curves_svg(const std::vector<RunDir>& runs);

// Reads the runs' records and writes OUT_DIR/curves.svg atomically; returns its path, or
// nullopt (nothing written) when no run has an epoch record. Throws std::runtime_error naming
// the file when it cannot write it.
std::optional<std::filesystem::path> write_curves(const std::vector<std::filesystem::path>& run_dirs,
                                   const std::filesystem::path& out_dir);

}  // namespace nin::report
