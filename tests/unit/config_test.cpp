// Config parsing: defaults, overrides, and every kind of bad input named clearly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/config_rules.h"
#include "test_util.h"
#include "util/error.h"

using nin::InputError;
using nin::config::Config;
namespace fs = std::filesystem;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  static const fs::path dir = nin::test::fresh_dir("config");
  const fs::path path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST(Config, ShippedConfigsLoadAndValidate) {
  int shipped = 0;  // every file in configs/, so a new one cannot go unchecked
  for (const auto& entry : std::filesystem::directory_iterator(std::string(NIN_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    ++shipped;
    EXPECT_NO_THROW(nin::config::validate(nin::config::load_config(entry.path().string()), 1)) << entry.path();
  }
  EXPECT_GE(shipped, 4);
  const auto seed = nin::config::load_config(std::string(NIN_SOURCE_DIR) + "/configs/fmnist.toml");
  EXPECT_EQ(seed.resize, 224);
  EXPECT_EQ(seed.batch_size, 128);
  EXPECT_EQ(seed.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(seed.lr, 0.05);
  EXPECT_EQ(seed.epochs, 10);
}

TEST(Config, OverridesTakeTomlValuesAndBareWords) {
  const auto path = write_file("ok.toml", "[train]\nlr = 0.1\n");
  const auto c = nin::config::load_config(path, {"train.lr=0.2", "train.optimizer=adam", "data.normalize=true",
                                                "train.epochs=3", "run.dir=\"x y\""});
  EXPECT_DOUBLE_EQ(c.lr, 0.2);
  EXPECT_EQ(c.optimizer, "adam");
  EXPECT_TRUE(c.normalize);
  EXPECT_EQ(c.epochs, 3);
  EXPECT_EQ(c.run_dir, "x y");
}

TEST(Config, MissingFileNamesThePath) {
  const auto msg = nin::test::input_error([] { nin::config::load_config("/nonexistent/nin.toml"); });
  EXPECT_NE(msg.find("/nonexistent/nin.toml"), std::string::npos) << msg;
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  const auto path = write_file("syntax.toml", "[train]\nlr = 0.1\nepochs = = 3\n");
  const auto msg = nin::test::input_error([&] { nin::config::load_config(path); });
  EXPECT_NE(msg.find(path + ":3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("syntax"), std::string::npos) << msg;
}

TEST(Config, UnknownKeySuggestsTheNearest) {
  const auto path = write_file("unknown.toml", "[train]\nlrr = 0.1\n");
  const auto msg = nin::test::input_error([&] { nin::config::load_config(path); });
  EXPECT_NE(msg.find("unknown key 'train.lrr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'train.lr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path + ":2"), std::string::npos) << msg;
  const auto set_msg = nin::test::input_error([] { nin::config::load_config("", {"train.epoch=3"}); });
  EXPECT_NE(set_msg.find("--set train.epoch=3"), std::string::npos) << set_msg;
  EXPECT_NE(set_msg.find("did you mean 'train.epochs'"), std::string::npos) << set_msg;
}

TEST(Config, WrongTypeNamesKeyAndTypes) {
  const auto path = write_file("type.toml", "[train]\nepochs = \"ten\"\n");
  const auto msg = nin::test::input_error([&] { nin::config::load_config(path); });
  EXPECT_NE(msg.find("'train.epochs' must be an integer, got a string"), std::string::npos) << msg;
  EXPECT_NE(nin::test::input_error([] { nin::config::load_config("", {"train.lr=fast"}); }).find("must be a number"), std::string::npos);
  EXPECT_NE(nin::test::input_error([] { nin::config::load_config("", {"train.lr"}); }).find("KEY=VALUE"), std::string::npos);
}

TEST(Config, OutOfRangeValuesAreRejected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.lr=0", "train.lr"},          {"train.lr=-1", "train.lr"},
      {"train.batch_size=0", "train.batch_size"}, {"train.epochs=0", "train.epochs"},
      {"data.resize=66", "at least 67x67"}, {"train.optimizer=\"rmsprop\"", "train.optimizer"},
      {"model.dropout=1.0", "model.dropout"}, {"train.device=\"tpu\"", "train.device"},
      // sizes that would make the model or a batch allocate without bound
      {"model.num_classes=1000000000", "model.num_classes = 1000000000 is out of range: must be in [2, 100000]"},
      {"data.resize=100000", "data.resize = 100000 is out of range: must be in [0, 4096]"},
      {"model.in_channels=100000", "model.in_channels"},
      // a newline would end a line of a log (and of a label in curves.svg)
      {"run.dir=\"a\\nprint system('touch PWNED')\\n#\"", "run.dir = '''a\\nprint system('touch PWNED')\\n#''' is out of range: holds a control character"},
      {"data.dir=\"a\\tb\"", "data.dir = 'a\\tb' is out of range: holds a control character"},
      {"train.label_smoothing=1", "train.label_smoothing = 1.0 is out of range: must be in [0, 1)"},
      {"train.label_smoothing=-0.1", "train.label_smoothing = -0.1 is out of range"},
      {"train.clip_grad_norm=-1", "train.clip_grad_norm = -1.0 is out of range: must be >= 0"},
      {"train.clip_grad_norm=inf", "train.clip_grad_norm = inf is out of range"},
      {"train.clip_grad_norm=nan", "train.clip_grad_norm = nan is out of range"}};
  for (const auto& [set, expect] : cases) {
    const auto c = nin::config::load_config("", {set});
    const auto msg = nin::test::input_error([&] { nin::config::validate(c, 1); });
    EXPECT_NE(msg.find(expect), std::string::npos) << set << " -> " << msg;
  }
}

// A bad value is blamed on what gave it: the --set flag, or else the file.
TEST(Config, OutOfRangeNamesTheFlagOrTheFile) {
  const std::string smoke = NIN_SOURCE_DIR "/configs/smoke.toml";
  const auto from_set = nin::config::load_config(smoke, {"train.batch_size=0"});
  EXPECT_EQ(nin::test::input_error([&] { nin::config::validate(from_set, 1); }).rfind("--set train.batch_size=0: train.batch_size = 0", 0), 0u);
  auto from_file = nin::config::load_config(smoke, {"train.lr=0.1"});
  from_file.epochs = 0;  // as if the file had said so
  EXPECT_EQ(nin::test::input_error([&] { nin::config::validate(from_file, 1); }).rfind(smoke + ": train.epochs = 0", 0), 0u);
}

TEST(Config, GlobalBatchMustSplitOverRanks) {
  const auto c = nin::config::load_config("", {"train.batch_size=100"});
  EXPECT_NO_THROW(nin::config::validate(c, 4));
  const auto msg = nin::test::input_error([&] { nin::config::validate(c, 3); });
  EXPECT_NE(msg.find("divisible by the 3 ranks"), std::string::npos) << msg;
}

TEST(Config, ACapturedStepTakesOneMicroBatch) {
  EXPECT_NO_THROW(nin::config::validate(nin::config::load_config("", {"train.cuda_graph=true"}), 1));
  const auto c = nin::config::load_config("", {"train.cuda_graph=true", "train.accumulate=2"});
  const auto msg = nin::test::input_error([&] { nin::config::validate(c, 1); });
  EXPECT_NE(msg.find("--set train.accumulate=2: train.accumulate = 2 is out of range: a captured step"),
            std::string::npos) << msg;
}

// log.trace_steps: "A:B" with 0 <= A <= B, or "" for off; anything else names the key and value.
TEST(Config, TraceStepsTakeARange) {
  for (const char* ok : {"", "0:0", "2:6", "7:100"})
    EXPECT_NO_THROW(nin::config::validate(nin::config::load_config("", {std::string("log.trace_steps=\"") + ok + "\""}), 1)) << ok;
  for (const char* bad : {"6:2", "-1:3", "2", "2:", ":6", "a:b", "2:6:8", " 2:6", "2:+6", "99999999999999999999:1"}) {
    const auto c = nin::config::load_config("", {std::string("log.trace_steps=\"") + bad + "\""});
    const auto msg = nin::test::input_error([&] { nin::config::validate(c, 1); });
    EXPECT_NE(msg.find(std::string("log.trace_steps = '") + bad + "' is out of range: must be \"A:B\""), std::string::npos)
        << bad << " -> " << msg;
  }
  const auto parsed = nin::config::rules::parse_step_range("2:6");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, 2);
  EXPECT_EQ(parsed->second, 6);
  const auto graph = nin::config::load_config("", {"log.trace_steps=2:6", "train.cuda_graph=true"});
  EXPECT_NE(nin::test::input_error([&] { nin::config::validate(graph, 1); }).find("log.trace_steps = '2:6' is out of range"),
            std::string::npos);
}

// log.profile_steps: the same ranges as log.trace_steps, named as its own key; not with a graph.
TEST(Config, ProfileStepsTakeARange) {
  for (const char* ok : {"", "0:0", "20:29"})
    EXPECT_NO_THROW(nin::config::validate(nin::config::load_config("", {std::string("log.profile_steps=\"") + ok + "\""}), 1))
        << ok;
  for (const char* bad : {"3:1", "x", "1:", "-1:2"}) {
    const auto c = nin::config::load_config("", {std::string("log.profile_steps=\"") + bad + "\""});
    const auto msg = nin::test::input_error([&] { nin::config::validate(c, 1); });
    EXPECT_NE(msg.find(std::string("log.profile_steps = '") + bad + "' is out of range: must be \"A:B\""),
              std::string::npos) << bad << " -> " << msg;
  }
  const auto graph = nin::config::load_config("", {"log.profile_steps=2:6", "train.cuda_graph=true"});
  EXPECT_NE(nin::test::input_error([&] { nin::config::validate(graph, 1); })
                .find("log.profile_steps = '2:6' is out of range: the profiler is not checked with a replayed CUDA graph"),
            std::string::npos);
}

TEST(Config, RetiredKeysAreRefusedNamingWhatReplacedThem) {
  const std::string old = "[train]\nforeach = true\nlr = 0.1\n";
  const auto msg = nin::test::input_error([&] { nin::config::from_toml(old, "old.toml"); });
  EXPECT_NE(msg.find("old.toml:2: train.foreach is retired, replaced by the fused update"), std::string::npos) << msg;
  const auto set = nin::test::input_error([] { nin::config::load_config("", {"train.foreach=true"}); });
  EXPECT_NE(set.find("--set train.foreach=true: train.foreach is retired"), std::string::npos) << set;
  // What `nin-dist upgrade` does to a checkpoint's embedded config: the key dropped, the rest kept.
  const auto c = nin::config::from_toml(nin::config::without_retired_keys(old, "old.toml"), "old.toml");
  EXPECT_DOUBLE_EQ(c.lr, 0.1);
  const std::string current = "[train]\nlr = 0.1\n";
  EXPECT_EQ(nin::config::without_retired_keys(current, "new.toml"), current);
}

TEST(Config, CanonicalTomlRoundTripsAndHashes) {
  auto c = nin::config::load_config("", {"train.lr=0.125", "run.dir=\"runs/a\""});
  const auto text = nin::config::to_toml(c);
  const auto back = nin::config::from_toml(text, "roundtrip");
  EXPECT_EQ(nin::config::to_toml(back), text);
  EXPECT_EQ(nin::config::config_hash(back), nin::config::config_hash(c));
  c.lr = 0.25;
  EXPECT_NE(nin::config::config_hash(back), nin::config::config_hash(c));
  EXPECT_EQ(nin::config::config_reference().size(), static_cast<size_t>(std::count(text.begin(), text.end(), '=')));
}

TEST(Config, CanonicalTomlOfTheDefaultsIsFixed) {
  // Checkpoints store this text and config_hash hashes it: key order and number format are a file format.
  const std::string expected =
      "[model]\n"
      "in_channels = 1\n"
      "num_classes = 10\n"
      "dropout = 0.5\n"
      "class_bias = 1.0\n"
      "\n"
      "[data]\n"
      "dir = '/usr/share/datasets/fashion-mnist'\n"
      "resize = 224\n"
      "train_limit = 0\n"
      "test_limit = 0\n"
      "normalize = false\n"
      "crop_padding = 0\n"
      "flip = false\n"
      "val_split = 0\n"
      "\n"
      "[train]\n"
      "epochs = 10\n"
      "batch_size = 128\n"
      "accumulate = 1\n"
      "optimizer = 'sgd'\n"
      "lr = 0.05\n"
      "momentum = 0.0\n"
      "weight_decay = 0.0\n"
      "lr_scaling = 'none'\n"
      "base_batch_size = 128\n"
      "warmup_epochs = 0.0\n"
      "lr_decay = 'none'\n"
      "seed = 42\n"
      "threads = 0\n"
      "device = 'auto'\n"
      "precision = 'fp32'\n"
      "stall_steps = 300\n"
      "channels_last = false\n"
      "cuda_graph = false\n"
      "label_smoothing = 0.0\n"
      "clip_grad_norm = 0.0\n"
      "\n"
      "[dist]\n"
      "bucket_mb = 25.0\n"
      "first_bucket_mb = 1.0\n"
      "timeout_s = 300.0\n"
      "check_every = 0\n"
      "on_nonfinite = 'stop'\n"
      "\n"
      "[checkpoint]\n"
      "every = 1\n"
      "keep = 3\n"
      "every_steps = 0\n"
      "keep_best = false\n"
      "\n"
      "[eval]\n"
      "test_every = 0\n"
      "\n"
      "[log]\n"
      "every = 20\n"
      "quiet = false\n"
      "trace_steps = ''\n"
      "profile_steps = ''\n"
      "\n"
      "[run]\n"
      "dir = 'runs/default'\n";
  EXPECT_EQ(nin::config::to_toml(nin::config::Config{}), expected);
}

TEST(Config, EveryKeyDefaultValidatesAndRoundTrips) {
  const nin::config::Config defaults;
  EXPECT_NO_THROW(nin::config::validate(defaults, 1));
  const auto text = nin::config::to_toml(defaults);
  EXPECT_EQ(nin::config::to_toml(nin::config::from_toml(text, "defaults")), text);
  for (const auto& f : nin::config::config_reference()) {
    EXPECT_FALSE(f.doc.empty()) << f.key;
    const std::string line = f.key.substr(f.key.find('.') + 1) + " = " + f.value;
    EXPECT_NE(text.find("\n" + line + "\n"), std::string::npos) << line;
    // The reference's default, read back through --set, leaves the canonical text as it was.
    const auto c = nin::config::load_config("", {f.key + "=" + f.value});
    EXPECT_EQ(nin::config::to_toml(c), text) << f.key;
    EXPECT_NO_THROW(nin::config::validate(c, 1)) << f.key;
  }
}

TEST(Config, EveryKeyNamesItselfWhenGivenTheWrongType) {
  for (const auto& f : nin::config::config_reference()) {
    const auto msg = nin::test::input_error([&] { nin::config::load_config("", {f.key + "=[1]"}); });
    EXPECT_NE(msg.find("--set " + f.key + "=[1]: key '" + f.key + "' must be "), std::string::npos) << msg;
    EXPECT_NE(msg.find(", got an array"), std::string::npos) << msg;
  }
}

TEST(Config, OutOfRangeMessagesKeepTheirWording) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model.num_classes=1", "model.num_classes = 1 is out of range: must be in [2, 100000]"},
      {"model.dropout=1.0", "model.dropout = 1.0 is out of range: must be in [0, 1)"},
      {"train.lr=0", "train.lr = 0.0 is out of range: must be > 0"},
      {"train.lr=inf", "train.lr = inf is out of range: must be > 0"},
      {"train.momentum=nan", "train.momentum = nan is out of range: must be in [0, 1)"},
      {"train.optimizer=rmsprop", "train.optimizer = 'rmsprop' is out of range: must be \"sgd\", \"adam\" or \"adamw\""},
      {"train.precision=fp16", "train.precision = 'fp16' is out of range: must be \"fp32\" or \"bf16\""},
      {"data.resize=66", "data.resize = 66 is out of range: NiN needs inputs of at least 67x67 pixels"},
      {"run.dir=\"\"", "run.dir = \"\" is out of range: must name a directory"},
      {"train.accumulate=3", "train.batch_size = 128 is out of range: must be divisible by train.accumulate = 3"}};
  for (const auto& [set, expect] : cases) {
    const auto c = nin::config::load_config("", {set});
    // Blamed on the --set when it gave the key in question, else on the defaults.
    const std::string key = set.substr(0, set.find('='));
    const std::string where = expect.rfind(key + " ", 0) == 0 ? "--set " + set : "<defaults>";
    EXPECT_EQ(nin::test::input_error([&] { nin::config::validate(c, 1); }), where + ": " + expect) << set;
  }
}
