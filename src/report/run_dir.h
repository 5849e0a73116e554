// What a run directory holds, read for the report: records, confusion matrix, trace, config, checkpoints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rundir/records.h"

namespace nin::report {

// confusion.json: rows are the true classes.
struct Confusion {
  int64_t epoch = 0;
  std::string split;  // "test" or "val"
  std::vector<std::string> classes;
  std::vector<std::vector<int64_t>> counts;
};

// A complete span ("ph": "X") of trace.json, in microseconds.
struct Span {
  int rank = 0, lane = 0;  // pid, tid: lane 0 computes, lane 1 communicates
  std::string name;
  double start_us = 0, dur_us = 0;
  int64_t step = -1;  // args.step, -1 when absent
};

struct Trace {
  std::vector<Span> spans;
  std::vector<std::pair<int, std::string>> rank_names;  // process_name metadata: "rank R (host H)"
  std::string trace_steps;  // otherData.trace_steps, "A:B"
};

struct CheckpointEntry {
  std::string name;
  int64_t step = -1;  // from the name; best.nin's from metrics.jsonl's best validation epoch
  uintmax_t bytes = 0;
};

struct RunDir {
  std::filesystem::path dir;
  std::vector<rundir::EpochRecord> epochs;  // metrics.jsonl
  std::vector<rundir::StepRecord> steps;    // steps.jsonl
  std::optional<Confusion> confusion;
  std::optional<Trace> trace;
  std::string trace_error;  // why trace.json was not read, when it exists but is not valid
  std::string config;       // config.toml as written
  nlohmann::json run_info;  // run.json; null when absent
  std::vector<CheckpointEntry> checkpoints;  // newest first, best.nin last
};

// Reads what exists; a missing file leaves its part empty, a line cut short by a crash is
// skipped. Throws std::runtime_error when `dir` is not a directory.
RunDir read_run_dir(const std::filesystem::path& dir);
// The records alone (epochs and steps), what the curves need; the rest left empty.
RunDir read_run_records(const std::filesystem::path& dir);

}  // namespace nin::report
