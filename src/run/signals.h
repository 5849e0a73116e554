// Preemption: SIGTERM and SIGUSR1 ask the run to checkpoint and stop at the next step.
#pragma once

namespace nin::run {

void install_stop_handlers();
// The signal that asked to stop, or 0. Only a flag is set in the handler; the trainer
// turns it into a collective decision so that no rank stops alone.
int stop_signal();

}  // namespace nin::run
