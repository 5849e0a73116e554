// One run per run directory: the files a run leaves there, what they say, and moving them aside.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace nin::run {

// The names of the files a run writes into `dir` that exist there, sorted: its records,
// checkpoints, pages and config (not nin-dist.lock, nor folders such as previous-*/).
std::vector<std::string> run_files(const std::filesystem::path& dir);

// What `dir`'s run recorded, for a message: "4 epochs recorded, best validation accuracy
// 0.9150, test accuracy 0.9053 at epoch 4, 2 checkpoints (newest ckpt-step0000001720.nin)".
std::string describe_run(const std::filesystem::path& dir);

// The folder --overwrite moves an earlier run's files into: DIR/previous-<UTC time>, with
// -2, -3, ... appended when that name exists (a name in use is never reused).
std::filesystem::path aside_dir(const std::filesystem::path& dir);

// Moves `names` from `dir` into `to` (created; same file system, so each move is a rename and
// nothing is copied or deleted). Throws std::runtime_error naming the file that did not move
// and where the others went.
void move_aside(const std::filesystem::path& dir, const std::vector<std::string>& names,
                const std::filesystem::path& to);

}  // namespace nin::run
