// Every file name in a run directory, spelled here once: the trainer, the checkpoints, the
// report, the monitors and the commands build their paths from these.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace nin::rundir {

inline constexpr const char* kConfig = "config.toml";         // the effective config, as run
inline constexpr const char* kRunInfo = "run.json";           // build, ranks, start time
inline constexpr const char* kMetrics = "metrics.jsonl";      // a line per epoch (records.h)
inline constexpr const char* kMetricsCsv = "metrics.csv";     // the same, a row per epoch
inline constexpr const char* kSteps = "steps.jsonl";          // a line every log.every steps
inline constexpr const char* kConfusion = "confusion.json";   // the latest evaluation's matrix
inline constexpr const char* kTrace = "trace.json";           // log.trace_steps' spans (Chrome trace)
inline constexpr const char* kProfile = "profile.json";       // log.profile_steps' operators (Chrome trace)
inline constexpr const char* kProfileTable = "profile.md";    // the same, as a table
inline constexpr const char* kCurves = "curves.svg";          // losses and accuracies (report/svg.h)
inline constexpr const char* kReport = "report.html";         // the page (report/report.h)
inline constexpr const char* kBest = "best.nin";              // the best validation epoch's checkpoint
inline constexpr const char* kLock = "nin-dist.lock";         // held by the run's rank 0

// Every name a run writes at the top of its directory but the checkpoints, the lock and the
// profile's files: what makes a directory another run's (run/files.h).
inline constexpr const char* kRunFiles[] = {kConfig, kRunInfo, kMetrics, kMetricsCsv, kSteps,
                                            kConfusion, kTrace, kCurves, kReport, kBest};

// Checkpoints: ckpt-step<global step, 10 digits>.nin, so that the names sort by step. The
// pattern (ECMAScript and Python alike, the step its one group) is also
// launch/nin_elastic/run_facts.py's CHECKPOINT_NAME; tests/unit/rundir_test.cpp holds them equal.
inline constexpr const char* kCheckpointPattern = R"(ckpt-step(\d{10})\.nin)";
std::string checkpoint_name(int64_t global_step);
// The step in a checkpoint's name; nullopt for any other name.
std::optional<int64_t> checkpoint_step(const std::string& name);

// The folder --overwrite moves an earlier run's files into: previous-<stamp> (a UTC time).
std::filesystem::path previous_dir(const std::filesystem::path& run_dir, const std::string& stamp);
inline constexpr const char* kPreviousPattern = "previous-<UTC time>";  // for messages

}  // namespace nin::rundir
