#include "run/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace nin::run {

bool stdout_is_terminal() {
  // Open MPI gives every rank a pseudo-terminal, even when mpirun's output goes to a file,
  // and forwards output line by line: under a launcher, plain lines are the honest choice.
  for (const char* launcher_var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_ID"})
    if (std::getenv(launcher_var)) return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

Progress::Progress(int64_t epoch, int64_t epochs, int64_t steps, int64_t every, bool quiet, bool enabled)
    : epoch_(epoch), epochs_(epochs), steps_(steps), every_(every), tty_(stdout_is_terminal()),
      quiet_(quiet), enabled_(enabled), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

bool Progress::due(int64_t step) const {
  return enabled_ && !quiet_ && (tty_ || step % every_ == 0 || step == steps_);
}

void Progress::update(int64_t step, double running_loss, double images_per_s) {
  if (!enabled_ || quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = step > 0 ? elapsed / step * (steps_ - step) : 0.0;
  std::ostringstream line;
  line << std::fixed << std::setprecision(4) << "epoch " << epoch_ << "/" << epochs_;
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && step != steps_) return;
    std::ostringstream loss;  // "-" until the epoch's first record
    loss << std::fixed << std::setprecision(4) << running_loss;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * step / std::max<int64_t>(steps_, 1));
    line << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << step << "/" << steps_
         << " loss " << (std::isnan(running_loss) ? std::string("-") : loss.str())
         << std::setprecision(0) << " | " << images_per_s << " img/s | ETA " << eta << " s";
    std::cout << "\r" << line.str() << "\033[K" << std::flush;
  } else {
    if (step % every_ != 0 && step != steps_) return;
    line << " step " << step << "/" << steps_ << " loss " << running_loss << std::setprecision(0) << " | "
         << images_per_s << " img/s | ETA " << eta << " s";
    std::cout << line.str() << std::endl;
  }
  last_draw_ = now;
}

void Progress::finish() {
  if (enabled_ && !quiet_ && tty_) std::cout << "\r\033[K" << std::flush;
}

std::string format_record(const rundir::EpochRecord& r, int64_t epochs) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << "epoch " << r.epoch << "/" << epochs << "  train loss "
      << r.train_loss << " acc " << r.train_acc;
  if (!std::isnan(r.val_acc)) out << " | val loss " << r.val_loss << " acc " << r.val_acc;
  if (!std::isnan(r.test_acc)) out << " | test loss " << r.test_loss << " acc " << r.test_acc;
  out << std::setprecision(0) << " | " << r.images_per_s << " img/s | " << std::setprecision(1) << r.epoch_s << " s";
  return out.str();
}

}  // namespace nin::run
