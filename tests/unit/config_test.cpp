// Config parsing: defaults, overrides, and every kind of bad input named clearly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "train/config.h"
#include "test_util.h"
#include "util/error.h"

using nin::InputError;
using nin::train::Config;
namespace fs = std::filesystem;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / "nin-config-test";
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST(Config, ShippedConfigsLoadAndValidate) {
  for (const char* name : {"fmnist.toml", "cpu.toml", "smoke.toml"}) {
    const auto c = nin::train::load_config(std::string(NIN_SOURCE_DIR) + "/configs/" + name);
    EXPECT_NO_THROW(nin::train::validate(c, 1)) << name;
  }
  const auto seed = nin::train::load_config(std::string(NIN_SOURCE_DIR) + "/configs/fmnist.toml");
  EXPECT_EQ(seed.resize, 224);
  EXPECT_EQ(seed.batch_size, 128);
  EXPECT_EQ(seed.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(seed.lr, 0.05);
  EXPECT_EQ(seed.epochs, 10);
}

TEST(Config, OverridesTakeTomlValuesAndBareWords) {
  const auto path = write_file("ok.toml", "[train]\nlr = 0.1\n");
  const auto c = nin::train::load_config(path, {"train.lr=0.2", "train.optimizer=adam", "data.normalize=true",
                                                "train.epochs=3", "run.dir=\"x y\""});
  EXPECT_DOUBLE_EQ(c.lr, 0.2);
  EXPECT_EQ(c.optimizer, "adam");
  EXPECT_TRUE(c.normalize);
  EXPECT_EQ(c.epochs, 3);
  EXPECT_EQ(c.run_dir, "x y");
}

TEST(Config, MissingFileNamesThePath) {
  const auto msg = nin::test::input_error([] { nin::train::load_config("/nonexistent/nin.toml"); });
  EXPECT_NE(msg.find("/nonexistent/nin.toml"), std::string::npos) << msg;
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  const auto path = write_file("syntax.toml", "[train]\nlr = 0.1\nepochs = = 3\n");
  const auto msg = nin::test::input_error([&] { nin::train::load_config(path); });
  EXPECT_NE(msg.find(path + ":3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("syntax"), std::string::npos) << msg;
}

TEST(Config, UnknownKeySuggestsTheNearest) {
  const auto path = write_file("unknown.toml", "[train]\nlrr = 0.1\n");
  const auto msg = nin::test::input_error([&] { nin::train::load_config(path); });
  EXPECT_NE(msg.find("unknown key 'train.lrr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'train.lr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path + ":2"), std::string::npos) << msg;
  const auto set_msg = nin::test::input_error([] { nin::train::load_config("", {"train.epoch=3"}); });
  EXPECT_NE(set_msg.find("--set train.epoch=3"), std::string::npos) << set_msg;
  EXPECT_NE(set_msg.find("did you mean 'train.epochs'"), std::string::npos) << set_msg;
}

TEST(Config, WrongTypeNamesKeyAndTypes) {
  const auto path = write_file("type.toml", "[train]\nepochs = \"ten\"\n");
  const auto msg = nin::test::input_error([&] { nin::train::load_config(path); });
  EXPECT_NE(msg.find("'train.epochs' must be an integer, got a string"), std::string::npos) << msg;
  EXPECT_NE(nin::test::input_error([] { nin::train::load_config("", {"train.lr=fast"}); }).find("must be a number"), std::string::npos);
  EXPECT_NE(nin::test::input_error([] { nin::train::load_config("", {"train.lr"}); }).find("KEY=VALUE"), std::string::npos);
}

TEST(Config, OutOfRangeValuesAreRejected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.lr=0", "train.lr"},          {"train.lr=-1", "train.lr"},
      {"train.batch_size=0", "train.batch_size"}, {"train.epochs=0", "train.epochs"},
      {"data.resize=66", "at least 67x67"}, {"train.optimizer=\"rmsprop\"", "train.optimizer"},
      {"model.dropout=1.0", "model.dropout"}, {"train.device=\"tpu\"", "train.device"}};
  for (const auto& [set, expect] : cases) {
    const auto c = nin::train::load_config("", {set});
    const auto msg = nin::test::input_error([&] { nin::train::validate(c, 1); });
    EXPECT_NE(msg.find(expect), std::string::npos) << set << " -> " << msg;
  }
}

TEST(Config, GlobalBatchMustSplitOverRanks) {
  const auto c = nin::train::load_config("", {"train.batch_size=100"});
  EXPECT_NO_THROW(nin::train::validate(c, 4));
  const auto msg = nin::test::input_error([&] { nin::train::validate(c, 3); });
  EXPECT_NE(msg.find("divisible by the 3 ranks"), std::string::npos) << msg;
}

TEST(Config, CanonicalTomlRoundTripsAndHashes) {
  auto c = nin::train::load_config("", {"train.lr=0.125", "run.dir=\"runs/a\""});
  const auto text = nin::train::to_toml(c);
  const auto back = nin::train::from_toml(text, "roundtrip");
  EXPECT_EQ(nin::train::to_toml(back), text);
  EXPECT_EQ(nin::train::config_hash(back), nin::train::config_hash(c));
  c.lr = 0.25;
  EXPECT_NE(nin::train::config_hash(back), nin::train::config_hash(c));
  EXPECT_EQ(nin::train::config_reference().size(), static_cast<size_t>(std::count(text.begin(), text.end(), '=')));
}
