#include "train/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <sstream>

#include <toml++/toml.h>
#include <xxhash.h>

#include "model/nin.h"
#include "util/error.h"

namespace nin::train {
namespace {

// One config key: how to read it from a TOML node and write it back.
struct Field {
  std::string key;
  std::string doc;
  std::function<void(Config&, const toml::node&, const std::string& where)> set;
  std::function<std::string(const Config&)> get;
};

template <typename T>
std::string toml_text(const T& v) {
  std::ostringstream out;
  if constexpr (std::is_same_v<T, std::string>) {
    out << toml::value<std::string>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    out << (v ? "true" : "false");
  } else if constexpr (std::is_floating_point_v<T>) {
    char buf[64];  // shortest text that reads back as the same double
    std::string text(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
    if (text.find_first_of(".en") == std::string::npos) text += ".0";  // stay a TOML float
    out << text;
  } else {
    out << v;
  }
  return out.str();
}

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date or time";
  }
}

template <typename T>
Field field(std::string key, T Config::*member, std::string doc) {
  Field f;
  f.key = key;
  f.doc = std::move(doc);
  f.set = [key, member](Config& c, const toml::node& n, const std::string& where) {
    auto wrong = [&](const char* want) {
      return InputError(where + ": key '" + key + "' must be " + want + ", got " + toml_type_name(n));
    };
    if constexpr (std::is_same_v<T, std::string>) {
      if (!n.is_string()) throw wrong("a string");
      c.*member = *n.value<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!n.is_boolean()) throw wrong("a boolean (true or false)");
      c.*member = *n.value<bool>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!n.is_number()) throw wrong("a number");
      c.*member = *n.value<double>();
    } else {
      if (!n.is_integer()) throw wrong("an integer");
      const int64_t v = *n.value<int64_t>();
      if (std::is_unsigned_v<T> && v < 0) throw InputError(where + ": key '" + key + "' must be >= 0, got " + std::to_string(v));
      c.*member = static_cast<T>(v);
    }
  };
  f.get = [member](const Config& c) { return toml_text(c.*member); };
  return f;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> all = {
      field("model.in_channels", &Config::in_channels, "input image channels"),
      field("model.num_classes", &Config::num_classes, "output classes (labels must lie in 0..num_classes-1)"),
      field("model.dropout", &Config::dropout, "dropout probability before the last NiN block"),
      field("data.dir", &Config::data_dir, "folder with the four FashionMNIST IDX files (.gz or raw)"),
      field("data.resize", &Config::resize, "input height and width in pixels (at least 67)"),
      field("data.train_limit", &Config::train_limit, "use the first N training images; 0 = all"),
      field("data.test_limit", &Config::test_limit, "evaluate on the first N test images; 0 = all"),
      field("data.normalize", &Config::normalize, "normalise with the train-set mean and std"),
      field("train.epochs", &Config::epochs, "passes over the training set"),
      field("train.batch_size", &Config::batch_size, "global batch, split evenly over the ranks"),
      field("train.accumulate", &Config::accumulate, "micro-batches per optimizer step"),
      field("train.optimizer", &Config::optimizer, "sgd, adam or adamw"),
      field("train.lr", &Config::lr, "learning rate"),
      field("train.momentum", &Config::momentum, "SGD momentum"),
      field("train.weight_decay", &Config::weight_decay, "L2 penalty (decoupled for adamw)"),
      field("train.lr_scaling", &Config::lr_scaling, "none, or linear: lr * batch_size / base_batch_size"),
      field("train.base_batch_size", &Config::base_batch_size, "the batch size lr was tuned for"),
      field("train.warmup_epochs", &Config::warmup_epochs, "linear warm-up from lr/10, in epochs"),
      field("train.lr_decay", &Config::lr_decay, "none, or cosine: decay to 0 at the last step"),
      field("train.seed", &Config::seed, "seed for init, shuffling and dropout"),
      field("train.threads", &Config::threads, "intra-op threads per rank; 0 = node cores / ranks on node"),
      field("train.device", &Config::device, "auto, cpu or cuda (cuda:local_rank)"),
      field("train.precision", &Config::precision, "fp32, or bf16 (autocast on CUDA)"),
      field("train.stall_steps", &Config::stall_steps, "warn when the loss stays at ln(classes) this many steps; 0 = off"),
      field("dist.bucket_mb", &Config::bucket_mb, "gradient bucket cap, MiB"),
      field("dist.first_bucket_mb", &Config::first_bucket_mb, "first gradient bucket cap, MiB"),
      field("dist.timeout_s", &Config::timeout_s, "seconds before a stuck collective ends the job"),
      field("dist.check_every", &Config::check_every, "steps between cross-rank parameter checksums; 0 = off"),
      field("dist.on_nonfinite", &Config::on_nonfinite, "stop, or skip the step: a NaN or Inf loss or gradient"),
      field("checkpoint.every", &Config::checkpoint_every, "epochs between checkpoints (the last epoch always)"),
      field("checkpoint.keep", &Config::checkpoint_keep, "newest checkpoints kept"),
      field("log.every", &Config::log_every, "steps between progress lines when stdout is not a terminal"),
      field("log.quiet", &Config::quiet, "print only the epoch summaries"),
      field("run.dir", &Config::run_dir, "run directory: checkpoints, metrics, plots"),
  };
  return all;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

std::string unknown_key(const std::string& where, const std::string& key) {
  const Field* best = nullptr;
  size_t best_d = std::string::npos;
  for (const auto& f : fields()) {
    const size_t d = edit_distance(key, f.key);
    if (d < best_d) best_d = d, best = &f;
  }
  std::string msg = where + ": unknown key '" + key + "'";
  if (best && best_d <= std::max<size_t>(3, key.size() / 3)) msg += " (did you mean '" + best->key + "'?)";
  return msg;
}

std::string at(const std::string& file, const toml::node& n) {
  return file + ":" + std::to_string(n.source().begin.line);
}

void apply_table(Config& c, const toml::table& table, const std::string& prefix, const std::string& file) {
  for (auto&& [k, node] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const Field* f = find_field(key)) {
      f->set(c, node, at(file, node));
    } else if (const auto* sub = node.as_table()) {
      apply_table(c, *sub, key, file);
    } else {
      throw InputError(unknown_key(at(file, node), key));
    }
  }
}

toml::table parse(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column
        << ": TOML syntax error: " << e.description();
    throw InputError(msg.str());
  }
}

void require(bool ok, const Config& c, const std::string& key, const std::string& value,
             const std::string& rule) {
  if (!ok) throw InputError(c.source + ": " + key + " = " + value + " is out of range: " + rule);
}

}  // namespace

Config from_toml(const std::string& text, const std::string& source) {
  Config c;
  c.source = source;
  apply_table(c, parse(text, source), "", source);
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config c;
  if (!path.empty()) {
    toml::table table;
    try {
      table = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      if (e.source().begin.line == 0)  // toml++ reports an unreadable file at line 0
        msg << path << ": cannot read config file: " << e.description();
      else
        msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column
            << ": TOML syntax error: " << e.description();
      throw InputError(msg.str());
    }
    c.source = path;
    apply_table(c, table, "", path);
  }
  for (const auto& o : overrides) apply_override(c, o);
  return c;
}

void apply_override(Config& c, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const std::string where = "--set " + assignment;
  if (eq == std::string::npos || eq == 0)
    throw InputError(where + ": expected KEY=VALUE, e.g. --set train.lr=0.1");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  const Field* f = find_field(key);
  if (!f) throw InputError(unknown_key(where, key));
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word: take it as a string
  }
  f->set(c, *parsed.get("v"), where);
}

void validate(const Config& c, int world_size) {
  auto str = [](auto v) { return toml_text(v); };
  require(c.in_channels >= 1, c, "model.in_channels", str(c.in_channels), "must be >= 1");
  require(c.num_classes >= 2, c, "model.num_classes", str(c.num_classes), "must be >= 2");
  require(c.dropout >= 0 && c.dropout < 1, c, "model.dropout", str(c.dropout), "must be in [0, 1)");
  const int64_t min_size = model::min_input_size();
  require(c.resize >= min_size, c, "data.resize", str(c.resize),
          "NiN needs inputs of at least " + std::to_string(min_size) + "x" + std::to_string(min_size) + " pixels");
  require(c.train_limit >= 0, c, "data.train_limit", str(c.train_limit), "must be >= 0");
  require(c.test_limit >= 0, c, "data.test_limit", str(c.test_limit), "must be >= 0");
  require(c.epochs >= 1, c, "train.epochs", str(c.epochs), "must be >= 1");
  require(c.batch_size >= 1, c, "train.batch_size", str(c.batch_size), "must be >= 1");
  require(c.accumulate >= 1, c, "train.accumulate", str(c.accumulate), "must be >= 1");
  require(c.optimizer == "sgd" || c.optimizer == "adam" || c.optimizer == "adamw", c,
          "train.optimizer", str(c.optimizer), "must be \"sgd\", \"adam\" or \"adamw\"");
  require(c.lr > 0 && std::isfinite(c.lr), c, "train.lr", str(c.lr), "must be > 0");
  require(c.momentum >= 0 && c.momentum < 1, c, "train.momentum", str(c.momentum), "must be in [0, 1)");
  require(c.weight_decay >= 0, c, "train.weight_decay", str(c.weight_decay), "must be >= 0");
  require(c.lr_scaling == "none" || c.lr_scaling == "linear", c, "train.lr_scaling", str(c.lr_scaling),
          "must be \"none\" or \"linear\"");
  require(c.lr_decay == "none" || c.lr_decay == "cosine", c, "train.lr_decay", str(c.lr_decay),
          "must be \"none\" or \"cosine\"");
  require(c.base_batch_size >= 1, c, "train.base_batch_size", str(c.base_batch_size), "must be >= 1");
  require(c.warmup_epochs >= 0, c, "train.warmup_epochs", str(c.warmup_epochs), "must be >= 0");
  require(c.threads >= 0, c, "train.threads", str(c.threads), "must be >= 0");
  require(c.device == "auto" || c.device == "cpu" || c.device == "cuda", c, "train.device", str(c.device),
          "must be \"auto\", \"cpu\" or \"cuda\"");
  require(c.precision == "fp32" || c.precision == "bf16", c, "train.precision", str(c.precision),
          "must be \"fp32\" or \"bf16\"");
  require(c.stall_steps >= 0, c, "train.stall_steps", str(c.stall_steps), "must be >= 0");
  require(c.bucket_mb > 0, c, "dist.bucket_mb", str(c.bucket_mb), "must be > 0");
  require(c.first_bucket_mb > 0, c, "dist.first_bucket_mb", str(c.first_bucket_mb), "must be > 0");
  require(c.timeout_s > 0, c, "dist.timeout_s", str(c.timeout_s), "must be > 0");
  require(c.check_every >= 0, c, "dist.check_every", str(c.check_every), "must be >= 0");
  require(c.on_nonfinite == "stop" || c.on_nonfinite == "skip", c, "dist.on_nonfinite",
          str(c.on_nonfinite), "must be \"stop\" or \"skip\"");
  require(c.checkpoint_every >= 1, c, "checkpoint.every", str(c.checkpoint_every), "must be >= 1");
  require(c.checkpoint_keep >= 1, c, "checkpoint.keep", str(c.checkpoint_keep), "must be >= 1");
  require(c.log_every >= 1, c, "log.every", str(c.log_every), "must be >= 1");
  require(!c.run_dir.empty(), c, "run.dir", "\"\"", "must name a directory");
  const int64_t per_step = c.batch_size / c.accumulate;
  require(c.batch_size % c.accumulate == 0, c, "train.batch_size", str(c.batch_size),
          "must be divisible by train.accumulate = " + str(c.accumulate));
  require(per_step % world_size == 0, c, "train.batch_size", str(c.batch_size),
          "the global batch (per micro-batch " + str(per_step) + ") must be divisible by the " +
              std::to_string(world_size) + " ranks");
}

std::string to_toml(const Config& c) {
  std::ostringstream out;
  std::string section;
  for (const auto& f : fields()) {
    const auto dot = f.key.find('.');
    const std::string s = f.key.substr(0, dot);
    if (s != section) out << (section.empty() ? "" : "\n") << "[" << s << "]\n", section = s;
    out << f.key.substr(dot + 1) << " = " << f.get(c) << "\n";
  }
  return out.str();
}

uint64_t config_hash(const Config& c) {
  const std::string text = to_toml(c);
  return XXH64(text.data(), text.size(), /*seed=*/0);
}

std::vector<FieldInfo> config_reference() {
  const Config defaults;
  std::vector<FieldInfo> out;
  for (const auto& f : fields()) out.push_back({f.key, f.get(defaults), f.doc});
  return out;
}

}  // namespace nin::train
