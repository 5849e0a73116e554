#include "run/signals.h"

#include <csignal>

namespace nin::run {
namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop(int sig) { g_stop_signal = sig; }
}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

int stop_signal() { return g_stop_signal; }

}  // namespace nin::run
