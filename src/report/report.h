// report.html: one self-contained page per run (inline SVG and CSS, nothing from the network).
#pragma once

#include <filesystem>
#include <string>

#include "report/run_dir.h"

namespace nin::report {

// The page of `run`, from report.html.mustache: sections summary, curves, confusion,
// timeline, config, build, checkpoints (their element ids). Every text from the run is escaped.
std::string render_report(const RunDir& run);

// Reads `run_dir` and writes RUN_DIR/report.html atomically; returns its path. Throws
// std::runtime_error naming the file when it cannot.
std::filesystem::path write_report(const std::filesystem::path& run_dir);

}  // namespace nin::report
