// Checkpoints: round trip, checksum, signature, earlier versions through upgrade, truncation, shape checks, fallback, retention, locks.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/output-archive.h>
#include <xxhash.h>

#include "checkpoint/checkpoint.h"
#include "rundir/paths.h"
#include "checkpoint/optim_state.h"
#include "format/checkpoint_file.h"
#include "format/safetensors.h"
#include "infer/model_io.h"
#include "legacy_checkpoint.h"
#include "model/nin.h"
#include "test_util.h"
#include "run/lock.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace nin::checkpoint;
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
  nin::checkpoint::TrainState s{3, 5, 1234, {2.5, 77, 99}};
  nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(1234), *a.model, a.opt, "adam", s, "[train]\nlr = 0.001\n", 2);
  for (const auto& entry : fs::directory_iterator(dir))  // no temporary left behind
    EXPECT_EQ(entry.path().filename(), nin::rundir::checkpoint_name(1234));

  Fixture b;
  const auto ck = nin::checkpoint::read_checkpoint(dir / nin::rundir::checkpoint_name(1234));
  EXPECT_EQ(ck.state.epoch, 3);
  EXPECT_EQ(ck.state.step_in_epoch, 5);
  EXPECT_EQ(ck.state.global_step, 1234);
  EXPECT_DOUBLE_EQ(ck.state.sums.loss_sum, 2.5);
  EXPECT_EQ(ck.state.sums.correct, 77);
  EXPECT_EQ(ck.state.sums.seen, 99);
  EXPECT_EQ(ck.world_size, 2);
  EXPECT_EQ(ck.optimizer, "adam");
  EXPECT_EQ(ck.config_toml, "[train]\nlr = 0.001\n");
  nin::checkpoint::restore(ck, *b.model, &b.opt);
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

TEST(Checkpoint, EpochSumsStoredBesideTheOtherFieldsAreReadOnlyByUpgrade) {
  const auto dir = fresh_dir("ckpt-old-state");
  Fixture a;
  const auto path = dir / nin::rundir::checkpoint_name(12);
  nin::checkpoint::write_checkpoint(path, *a.model, a.opt, "adam", nin::checkpoint::TrainState{1, 2, 12, {9.5, 40, 64}}, "", 1);
  auto decoded = nin::format::decode_safetensors(nin::format::read_checkpoint_file(path).bytes, path.string());
  EXPECT_NE(decoded.metadata.at("train_state").find(R"("sums":{"correct":40.0,"loss_sum":9.5,"seen":64.0})"),
            std::string::npos)
      << decoded.metadata.at("train_state");
  // As files wrote it before the sums were one type: beside the other fields, counts as integers.
  decoded.metadata["train_state"] =
      R"({"correct":40,"epoch":1,"global_step":12,"loss_sum":9.5,"seen":64,"step_in_epoch":2})";
  nin::format::write_checkpoint_file(path, nin::format::encode_safetensors(decoded.tensors, decoded.metadata));
  const auto msg = input_error([&] { nin::checkpoint::read_checkpoint(path); });
  EXPECT_NE(msg.find(path.string() + ": a checkpoint of an earlier layout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nin-dist upgrade " + path.string()), std::string::npos) << msg;

  const auto upgraded = dir / "upgraded.nin";
  nin::infer::upgrade_checkpoint(path.string(), upgraded.string(), /*trust_legacy=*/false, nin::format::Existing::kRefuse);
  const auto s = nin::checkpoint::read_checkpoint(upgraded).state;
  EXPECT_EQ(s.epoch, 1);
  EXPECT_EQ(s.step_in_epoch, 2);
  EXPECT_EQ(s.global_step, 12);
  EXPECT_DOUBLE_EQ(s.sums.loss_sum, 9.5);
  EXPECT_EQ(s.sums.correct, 40);
  EXPECT_EQ(s.sums.seen, 64);
}

TEST(Checkpoint, TruncatedAndFlippedFilesAreRejected) {
  const auto dir = fresh_dir("ckpt-corrupt");
  Fixture a;
  const auto path = dir / nin::rundir::checkpoint_name(1);
  nin::checkpoint::write_checkpoint(path, *a.model, a.opt, "adam", {}, "", 1);
  const std::string good = read_bytes(path);

  write_bytes(path, good.substr(0, good.size() / 2));
  EXPECT_NE(input_error([&] { nin::checkpoint::read_checkpoint(path); }).find("truncated"), std::string::npos);
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  write_bytes(path, flipped);
  const auto msg = input_error([&] { nin::checkpoint::read_checkpoint(path); });
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  write_bytes(path, "");
  EXPECT_NE(input_error([&] { nin::checkpoint::read_checkpoint(path); }).find("truncated"), std::string::npos);
  EXPECT_NE(input_error([&] { nin::checkpoint::read_checkpoint(dir / "missing.nin"); }).find("not found"), std::string::npos);
}

TEST(Checkpoint, ShapeMismatchNamesTheTensorAndLeavesTheModelAlone) {
  const auto dir = fresh_dir("ckpt-shape");
  nin::model::NiN five(nin::model::NiNOptions{1, 5, 0.5});
  torch::optim::Adam opt(five->parameters(), torch::optim::AdamOptions(1e-3));
  nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(1), *five, opt, "adam", {}, "", 1);
  Fixture ten;
  const auto before = ten.model->named_parameters()["net.0.0.weight"].clone();
  const auto msg = input_error([&] { nin::checkpoint::restore(nin::checkpoint::read_checkpoint(dir / nin::rundir::checkpoint_name(1)), *ten.model, nullptr); });
  EXPECT_NE(msg.find("net.7.0.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_classes"), std::string::npos) << msg;
  EXPECT_TRUE(torch::equal(before, ten.model->named_parameters()["net.0.0.weight"]));
}

TEST(Checkpoint, NewestValidFallsBackPastCorruptOnesAndPruneKeepsNewest) {
  const auto dir = fresh_dir("ckpt-fallback");
  Fixture a;
  for (int64_t step : {10, 20, 30}) nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(step), *a.model, a.opt, "adam", nin::checkpoint::TrainState{0, 0, step, {}}, "", 1);
  EXPECT_EQ(nin::checkpoint::list_checkpoints(dir).front().filename(), nin::rundir::checkpoint_name(30));
  const std::string good = read_bytes(dir / nin::rundir::checkpoint_name(30));
  write_bytes(dir / nin::rundir::checkpoint_name(30), good.substr(0, 100));
  std::vector<std::string> warnings;
  const auto ck = nin::checkpoint::newest_valid_checkpoint(dir, warnings);
  ASSERT_NE(ck, nullptr);
  EXPECT_EQ(ck->state.global_step, 20);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(nin::rundir::checkpoint_name(30)), std::string::npos);
  nin::checkpoint::prune_checkpoints(dir, 2);  // the corrupt 30 does not count as one of the two
  EXPECT_EQ(nin::checkpoint::list_checkpoints(dir).size(), 3u);
  nin::checkpoint::prune_checkpoints(dir, 1);
  EXPECT_FALSE(fs::exists(dir / nin::rundir::checkpoint_name(10)));
  EXPECT_TRUE(fs::exists(dir / nin::rundir::checkpoint_name(20)));
  std::vector<std::string> none;
  EXPECT_EQ(nin::checkpoint::newest_valid_checkpoint(fresh_dir("ckpt-empty"), none), nullptr);
}

TEST(Checkpoint, FailedWriteLeavesThePreviousOneIntact) {
  const auto dir = fresh_dir("ckpt-failed-write");
  Fixture a;
  nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(1), *a.model, a.opt, "adam", {}, "", 1);
  const std::string before = read_bytes(dir / nin::rundir::checkpoint_name(1));
  EXPECT_THROW(nin::checkpoint::write_checkpoint(dir / "no-such-dir" / nin::rundir::checkpoint_name(2), *a.model, a.opt, "adam", {}, "", 1),
               std::runtime_error);
  EXPECT_EQ(read_bytes(dir / nin::rundir::checkpoint_name(1)), before);
}

TEST(Checkpoint, FailedWriteNamesTheFileAndTheReason) {
  const auto dir = fresh_dir("ckpt-write-error");
  Fixture a;
  const auto path = dir / "no-such-dir" / nin::rundir::checkpoint_name(2);
  try {
    nin::checkpoint::write_checkpoint(path, *a.model, a.opt, "adam", {}, "", 1);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot create checkpoint " + path.string() +
                                         ": No such file or directory (older checkpoints are intact)");
  }
}

TEST(Checkpoint, HeaderLayoutIsTheFileFormat) {
  // Version 2: magic at 0, version (uint32) at 8, payload length (uint64) at 12, XXH64 at
  // 20, HMAC-SHA256 tag at 28 (zeros: unsigned), payload at 60: safetensors, whose first
  // 8 bytes give the length of a JSON header.
  const auto dir = fresh_dir("ckpt-layout");
  Fixture a;
  nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(1), *a.model, a.opt, "adam", {}, "", 1);
  const std::string bytes = read_bytes(dir / nin::rundir::checkpoint_name(1));
  ASSERT_GT(bytes.size(), 68u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("NINCKPT\0", 8));
  uint32_t version = 0;
  uint64_t length = 0, header = 0;
  std::memcpy(&version, bytes.data() + 8, sizeof version);
  std::memcpy(&length, bytes.data() + 12, sizeof length);
  std::memcpy(&header, bytes.data() + 60, sizeof header);
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(length, bytes.size() - 60);
  EXPECT_EQ(bytes.substr(28, 32), std::string(32, '\0'));
  ASSERT_LT(header, length);
  const std::string json = bytes.substr(68, header);
  EXPECT_EQ(json.front(), '{');
  EXPECT_NE(json.find("\"__metadata__\""), std::string::npos);
  EXPECT_NE(json.find("\"optim/0/exp_avg\""), std::string::npos);
  EXPECT_EQ(bytes.find("PK\x03\x04"), std::string::npos);  // no zip, no TorchScript archive
}

namespace {

void write_legacy(const fs::path& path, const torch::nn::Module& model, const torch::optim::Optimizer& opt) {
  write_bytes(path, nin::test::legacy_checkpoint(model, opt, {"adam", "", 1, nin::checkpoint::TrainState{1, 0, 7, {}}}));
}

}  // namespace

TEST(Checkpoint, LegacyTorchScriptCheckpointsAreReadOnlyByUpgradeOnTrust) {
  const auto dir = fresh_dir("ckpt-legacy");
  Fixture a;
  const auto path = dir / nin::rundir::checkpoint_name(7);
  write_legacy(path, *a.model, a.opt);
  const auto msg = input_error([&] { nin::checkpoint::read_checkpoint(path); });
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("can run code"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nin-dist upgrade " + path.string() + " NEW.nin --trust-legacy-checkpoint"), std::string::npos)
      << msg;
  std::vector<std::string> warnings;
  EXPECT_EQ(nin::checkpoint::newest_valid_checkpoint(dir, warnings), nullptr);  // refused there too

  const auto upgraded = dir / "upgraded.nin";
  const auto untrusted = input_error([&] {
    nin::infer::upgrade_checkpoint(path.string(), upgraded.string(), /*trust_legacy=*/false, nin::format::Existing::kRefuse);
  });
  EXPECT_NE(untrusted.find(path.string()), std::string::npos) << untrusted;
  EXPECT_NE(untrusted.find("--trust-legacy-checkpoint"), std::string::npos) << untrusted;
  EXPECT_FALSE(fs::exists(upgraded));

  nin::infer::upgrade_checkpoint(path.string(), upgraded.string(), /*trust_legacy=*/true, nin::format::Existing::kRefuse);
  const auto ck = nin::checkpoint::read_checkpoint(upgraded);
  EXPECT_EQ(ck.state.global_step, 7);
  EXPECT_EQ(ck.optimizer, "adam");
  Fixture b;
  nin::checkpoint::restore(ck, *b.model, &b.opt);
  const auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto sa = nin::checkpoint::optimizer_state(a.opt), sb = nin::checkpoint::optimizer_state(b.opt);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  }

  // An existing file is never replaced without being asked to.
  const auto before = read_bytes(upgraded);
  EXPECT_THROW(nin::infer::upgrade_checkpoint(path.string(), upgraded.string(), true, nin::format::Existing::kRefuse),
               std::runtime_error);
  EXPECT_EQ(read_bytes(upgraded), before);
}

TEST(Checkpoint, SgdMomentumRoundTripsExactly) {
  const auto dir = fresh_dir("ckpt-sgd");
  nin::model::NiN model(nin::model::NiNOptions{1, 10, 0.5});
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  model->forward(torch::rand({2, 1, 67, 67})).sum().backward();
  opt.step();
  nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(1), *model, opt, "sgd", {}, "", 1);
  nin::model::NiN other(nin::model::NiNOptions{1, 10, 0.5});
  torch::optim::SGD opt2(other->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  nin::checkpoint::restore(nin::checkpoint::read_checkpoint(dir / nin::rundir::checkpoint_name(1)), *other, &opt2);
  const auto before = nin::checkpoint::optimizer_state(opt), after = nin::checkpoint::optimizer_state(opt2);
  ASSERT_EQ(before.size(), model->parameters().size());  // a momentum buffer per parameter
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].first, after[i].first);
    EXPECT_TRUE(torch::equal(before[i].second, after[i].second)) << before[i].first;
  }
}

TEST(Checkpoint, WithAKeyOnlySignedFilesAreRead) {
  const auto dir = fresh_dir("ckpt-hmac");
  Fixture a;
  ::unsetenv("NIN_CHECKPOINT_KEY");
  nin::checkpoint::write_checkpoint(dir / "unsigned.nin", *a.model, a.opt, "adam", {}, "", 1);
  ::setenv("NIN_CHECKPOINT_KEY", "first key", 1);
  nin::checkpoint::write_checkpoint(dir / "signed.nin", *a.model, a.opt, "adam", {}, "", 1);
  EXPECT_NO_THROW(nin::checkpoint::read_checkpoint(dir / "signed.nin"));
  auto msg = input_error([&] { nin::checkpoint::read_checkpoint(dir / "unsigned.nin"); });
  EXPECT_NE(msg.find("unsigned.nin: checkpoint is not signed with NIN_CHECKPOINT_KEY"), std::string::npos) << msg;
  ::setenv("NIN_CHECKPOINT_KEY", "another key", 1);
  msg = input_error([&] { nin::checkpoint::read_checkpoint(dir / "signed.nin"); });
  EXPECT_NE(msg.find("HMAC-SHA256"), std::string::npos) << msg;
  ::unsetenv("NIN_CHECKPOINT_KEY");
  EXPECT_NO_THROW(nin::checkpoint::read_checkpoint(dir / "signed.nin"));  // without a key, the checksum is the check
}

TEST(Checkpoint, EmbeddedConfigIsValidatedBeforeTheModelIsBuilt) {
  const auto dir = fresh_dir("ckpt-embedded-config");
  Fixture a;
  // A 384 x 10^9 last layer would ask for 1.5 TB before any check.
  nin::checkpoint::write_checkpoint(dir / "huge.nin", *a.model, a.opt, "adam", {}, "[model]\nnum_classes = 1000000000\n", 1);
  const auto msg = input_error([&] { nin::infer::load_model((dir / "huge.nin").string()); });
  EXPECT_NE(msg.find("huge.nin (embedded config): model.num_classes = 1000000000 is out of range"), std::string::npos)
      << msg;
}

TEST(Checkpoint, PruneCountsOnlyVerifiedCheckpointsAndExactNames) {
  const auto dir = fresh_dir("ckpt-prune");
  Fixture a;
  for (int64_t step : {10, 20, 30})
    nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(step), *a.model, a.opt, "adam", nin::checkpoint::TrainState{0, 0, step, {}}, "", 1);
  write_bytes(dir / nin::rundir::checkpoint_name(40), "garbage");        // newest, but does not verify
  write_bytes(dir / (nin::rundir::checkpoint_name(5) + ".bak"), "mine");  // not a checkpoint's name
  write_bytes(dir / "ckpt-step1.nin", "mine");
  nin::checkpoint::prune_checkpoints(dir, 2);
  EXPECT_TRUE(fs::exists(dir / nin::rundir::checkpoint_name(30)));
  EXPECT_TRUE(fs::exists(dir / nin::rundir::checkpoint_name(20)));  // the 40 did not count as one of the two
  EXPECT_FALSE(fs::exists(dir / nin::rundir::checkpoint_name(10)));
  EXPECT_TRUE(fs::exists(dir / (nin::rundir::checkpoint_name(5) + ".bak")));
  EXPECT_TRUE(fs::exists(dir / "ckpt-step1.nin"));
  EXPECT_EQ(nin::checkpoint::list_checkpoints(dir).size(), 3u);
}

TEST(Checkpoint, AFifoIsRefusedWithoutBlocking) {
  const auto dir = fresh_dir("ckpt-fifo");
  ASSERT_EQ(::mkfifo((dir / "pipe.nin").c_str(), 0600), 0);
  const auto msg = input_error([&] { nin::checkpoint::read_checkpoint(dir / "pipe.nin"); });
  EXPECT_NE(msg.find("pipe.nin: checkpoint is not a regular file"), std::string::npos) << msg;
}

TEST(Checkpoint, FilesAreNotWorldReadable) {
  const auto dir = fresh_dir("ckpt-mode");
  Fixture a;
  nin::checkpoint::write_checkpoint(dir / nin::rundir::checkpoint_name(1), *a.model, a.opt, "adam", {}, "", 1);
  const auto perms = fs::status(dir / nin::rundir::checkpoint_name(1)).permissions();
  EXPECT_EQ(perms & fs::perms::others_all, fs::perms::none);
  EXPECT_EQ(perms & fs::perms::group_read, fs::perms::group_read);
}

TEST(Checkpoint, ASecondLockOnARunDirectoryNamesTheHolder) {
  const auto dir = fresh_dir("run-lock");
  {
    nin::run::RunLock first(dir);
    const auto msg = input_error([&] { nin::run::RunLock second(dir); });
    EXPECT_NE(msg.find("is in use by another job"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(::getpid())), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(nin::run::RunLock again(dir));  // released with its holder
}
