// run::AfterStep with stdout a terminal, where the bar is redrawn after every step: the loop's
// reads (LoopReads, the only way the hook reaches the device) happen at record points only.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dist/factory.h"
#include "infer/model_io.h"
#include "monitor/health.h"
#include "run/after_step.h"
#include "train/optim.h"
#include "util/host_reads.h"
#include "test_util.h"

namespace nin::run {
namespace {

// stdout on a pseudo-terminal's slave end for the scope's lifetime; what was written is
// read back from the master end.
class StdoutOnTerminal {
 public:
  StdoutOnTerminal() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) throw std::runtime_error("no pty");
    const int slave = ::open(::ptsname(master_), O_RDWR | O_NOCTTY);
    std::cout.flush();
    saved_ = ::dup(STDOUT_FILENO);
    ::dup2(slave, STDOUT_FILENO);
    ::close(slave);
    ::fcntl(master_, F_SETFL, O_NONBLOCK);
  }
  ~StdoutOnTerminal() {
    std::cout.flush();
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    ::close(master_);
  }
  std::string written() {
    std::cout.flush();
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(master_, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    return out;
  }

 private:
  int master_ = -1, saved_ = -1;
};

TEST(AfterStep, OnATerminalTheLoopReadsOnlyAtRecordPoints) {
  config::Config c;
  c.run_dir = test::fresh_dir("after_step").string();
  c.epochs = 1, c.log_every = 4, c.check_every = 0;
  auto comm = dist::make_local_communicator();
  run::Run run(c, /*rank=*/0, /*world=*/1, *comm);
  run.create_dir(/*overwrite=*/false);
  monitor::Health health(c.num_classes, c.stall_steps);
  auto model = infer::make_model(c);
  auto optimizer = train::make_optimizer(c, model->parameters());
  constexpr int64_t kSteps = 10, kBatch = 2;
  const data::Split split{torch::zeros({kSteps * kBatch, 28, 28}, torch::kUInt8),
                         torch::zeros({kSteps * kBatch}, torch::kInt64)};
  data::Loader loader(split, data::LoaderOptions{kBatch, kBatch, 0, 1, c.seed, infer::batch_options(c), {}});
  std::vector<int64_t> reads_at;  // steps of the epoch (1-based) where the hook read
  LoopReads reads{[&] {
                    reads_at.push_back(run.state().step_in_epoch);
                    return checkpoint::EpochSums{1.0, 1.0, 2.0};
                  },
                  [] { ADD_FAILURE() << "no checkpoint is due"; },
                  [](int64_t) { return 0.1; }};
  AfterStep after_step(c, run, health, nullptr, nullptr, model, *optimizer, *comm, loader.steps_per_epoch(), reads);
  StdoutOnTerminal terminal;
  ASSERT_TRUE(stdout_is_terminal());
  const int64_t device_reads = host_reads();
  after_step.start_epoch(0);
  loader.start(0);
  while (!loader.done()) {
    after_step.before_step(run.state().step_in_epoch);
    const auto batch = loader.next();
    run.start_stop_vote();
    run.step_done(batch.index() + 1);  // as the trainer's step does
    ASSERT_TRUE(after_step(batch, loader.done()));
  }
  after_step.end_steps();
  EXPECT_EQ(reads_at, (std::vector<int64_t>{4, 8, 10}));
  EXPECT_EQ(host_reads(), device_reads) << "the hook read the device itself";
  EXPECT_NE(terminal.written().find('\r'), std::string::npos) << "no bar was drawn";
}

}  // namespace
}  // namespace nin::run
