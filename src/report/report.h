// report.html: one self-contained page per run (inline SVG and CSS, nothing from the network).
#pragma once

#include <filesystem>
#include <string>

#include "report/run_dir.h"

namespace nin::report {

// Who writes a page: the trainer after each epoch, or `nin-dist report` from the files.
inline constexpr const char* kByTrainer = "the trainer (nin-dist train)";
inline constexpr const char* kByReport = "nin-dist report";

// The page of `run`, from report.html.mustache: sections summary, curves, confusion,
// timeline, config, build, checkpoints (their element ids), and `writer` under the title.
// Every text from the run is escaped.
std::string render_report(const RunDir& run, const std::string& writer);

// Reads `run_dir` and writes RUN_DIR/report.html atomically; returns its path. Throws
// std::runtime_error naming the file when it cannot.
std::filesystem::path write_report(const std::filesystem::path& run_dir, const std::string& writer);

}  // namespace nin::report
