// Checkpoints: round trip, checksum, truncation, shape checks, fallback, retention.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <torch/optim/adam.h>

#include "model/nin.h"
#include "train/checkpoint.h"
#include "test_util.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace nin::train;
using nin::test::fresh_dir;
using nin::test::input_error;

namespace {

struct Fixture {
  nin::model::NiN model{nin::model::NiNOptions{1, 10, 0.5}};
  torch::optim::Adam opt{model->parameters(), torch::optim::AdamOptions(1e-3)};
  Fixture() {  // one step so that the optimizer has state to save
    auto loss = model->forward(torch::rand({2, 1, 67, 67})).sum();
    loss.backward();
    opt.step();
  }
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

}  // namespace

TEST(Checkpoint, RoundTripRestoresModelOptimizerAndState) {
  const auto dir = fresh_dir("ckpt-roundtrip");
  Fixture a;
  TrainState s{3, 5, 1234, 2.5, 77, 99};
  write_checkpoint(dir / checkpoint_name(1234), *a.model, a.opt, "adam", s, "[train]\nlr = 0.001\n", 2);
  EXPECT_FALSE(fs::exists(dir / (checkpoint_name(1234) + ".tmp")));

  Fixture b;
  const auto ck = read_checkpoint(dir / checkpoint_name(1234));
  EXPECT_EQ(ck.state.epoch, 3);
  EXPECT_EQ(ck.state.step_in_epoch, 5);
  EXPECT_EQ(ck.state.global_step, 1234);
  EXPECT_DOUBLE_EQ(ck.state.loss_sum, 2.5);
  EXPECT_EQ(ck.state.correct, 77);
  EXPECT_EQ(ck.state.seen, 99);
  EXPECT_EQ(ck.world_size, 2);
  EXPECT_EQ(ck.optimizer, "adam");
  EXPECT_EQ(ck.config_toml, "[train]\nlr = 0.001\n");
  restore(ck, *b.model, &b.opt);
  const auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  // The same step from both optimizers gives the same parameters: the state came along.
  for (auto* f : {&a, &b}) {
    f->opt.zero_grad();
    torch::manual_seed(7);
    f->model->eval();
    f->model->forward(torch::ones({1, 1, 67, 67})).sum().backward();
    f->opt.step();
  }
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
}

TEST(Checkpoint, TruncatedAndFlippedFilesAreRejected) {
  const auto dir = fresh_dir("ckpt-corrupt");
  Fixture a;
  const auto path = dir / checkpoint_name(1);
  write_checkpoint(path, *a.model, a.opt, "adam", {}, "", 1);
  const std::string good = read_bytes(path);

  write_bytes(path, good.substr(0, good.size() / 2));
  EXPECT_NE(input_error([&] { read_checkpoint(path); }).find("truncated"), std::string::npos);
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  write_bytes(path, flipped);
  const auto msg = input_error([&] { read_checkpoint(path); });
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  write_bytes(path, "");
  EXPECT_NE(input_error([&] { read_checkpoint(path); }).find("truncated"), std::string::npos);
  EXPECT_NE(input_error([&] { read_checkpoint(dir / "missing.nin"); }).find("not found"), std::string::npos);
}

TEST(Checkpoint, ShapeMismatchNamesTheTensorAndLeavesTheModelAlone) {
  const auto dir = fresh_dir("ckpt-shape");
  nin::model::NiN five(nin::model::NiNOptions{1, 5, 0.5});
  torch::optim::Adam opt(five->parameters(), torch::optim::AdamOptions(1e-3));
  write_checkpoint(dir / checkpoint_name(1), *five, opt, "adam", {}, "", 1);
  Fixture ten;
  const auto before = ten.model->named_parameters()["net.0.0.weight"].clone();
  const auto msg = input_error([&] { restore(read_checkpoint(dir / checkpoint_name(1)), *ten.model, nullptr); });
  EXPECT_NE(msg.find("net.7.0.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_classes"), std::string::npos) << msg;
  EXPECT_TRUE(torch::equal(before, ten.model->named_parameters()["net.0.0.weight"]));
}

TEST(Checkpoint, NewestValidFallsBackPastCorruptOnesAndPruneKeepsNewest) {
  const auto dir = fresh_dir("ckpt-fallback");
  Fixture a;
  for (int64_t step : {10, 20, 30}) write_checkpoint(dir / checkpoint_name(step), *a.model, a.opt, "adam", TrainState{0, 0, step}, "", 1);
  EXPECT_EQ(list_checkpoints(dir).front().filename(), checkpoint_name(30));
  const std::string good = read_bytes(dir / checkpoint_name(30));
  write_bytes(dir / checkpoint_name(30), good.substr(0, 100));
  std::vector<std::string> warnings;
  const auto ck = newest_valid_checkpoint(dir, warnings);
  ASSERT_NE(ck, nullptr);
  EXPECT_EQ(ck->state.global_step, 20);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(checkpoint_name(30)), std::string::npos);
  prune_checkpoints(dir, 2);
  EXPECT_EQ(list_checkpoints(dir).size(), 2u);
  EXPECT_FALSE(fs::exists(dir / checkpoint_name(10)));
  std::vector<std::string> none;
  EXPECT_EQ(newest_valid_checkpoint(fresh_dir("ckpt-empty"), none), nullptr);
}

TEST(Checkpoint, FailedWriteLeavesThePreviousOneIntact) {
  const auto dir = fresh_dir("ckpt-failed-write");
  Fixture a;
  write_checkpoint(dir / checkpoint_name(1), *a.model, a.opt, "adam", {}, "", 1);
  const std::string before = read_bytes(dir / checkpoint_name(1));
  EXPECT_THROW(write_checkpoint(dir / "no-such-dir" / checkpoint_name(2), *a.model, a.opt, "adam", {}, "", 1),
               std::runtime_error);
  EXPECT_EQ(read_bytes(dir / checkpoint_name(1)), before);
}

TEST(Checkpoint, FailedWriteNamesTheFileAndTheReason) {
  const auto dir = fresh_dir("ckpt-write-error");
  Fixture a;
  const auto path = dir / "no-such-dir" / checkpoint_name(2);
  try {
    write_checkpoint(path, *a.model, a.opt, "adam", {}, "", 1);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot create checkpoint " + path.string() +
                                         ".tmp: No such file or directory (older checkpoints are intact)");
  }
}

TEST(Checkpoint, HeaderLayoutIsTheFileFormat) {
  // Old checkpoints must keep reading: magic at 0, version (uint32) at 8, payload length
  // (uint64) at 12, XXH64 at 20, payload at 28.
  const auto dir = fresh_dir("ckpt-layout");
  Fixture a;
  write_checkpoint(dir / checkpoint_name(1), *a.model, a.opt, "adam", {}, "", 1);
  const std::string bytes = read_bytes(dir / checkpoint_name(1));
  ASSERT_GT(bytes.size(), 28u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("NINCKPT\0", 8));
  uint32_t version = 0;
  uint64_t length = 0;
  std::memcpy(&version, bytes.data() + 8, sizeof version);
  std::memcpy(&length, bytes.data() + 12, sizeof length);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(length, bytes.size() - 28);
  EXPECT_EQ(bytes.substr(28, 2), "PK");  // the payload: a torch archive, a zip file
}
