#include "config/config.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <sstream>
#include <type_traits>
#include <utility>

#include <toml++/toml.h>
#include <xxhash.h>

#include "config/config_rules.h"
#include "model/nin.h"
#include "util/error.h"

namespace nin::config {
namespace {

// One config key, built from its line in config_keys.h.
struct Key {
  std::string name;  // dotted: "train.lr"
  std::string help;
  std::function<void(Config&, const toml::node&, const std::string& where)> set;
  std::function<std::string(const Config&)> get;     // the value as TOML
  std::function<std::string(const Config&)> broken;  // the key's own rule it breaks, or ""
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

// The node as a T, or an InputError naming `key` and the type it should have been.
template <typename T>
T read(const toml::node& n, const std::string& key, const std::string& where) {
  auto wrong = [&](const char* want) {
    return InputError(where + ": key '" + key + "' must be " + want + ", got " + toml_type_name(n));
  };
  if constexpr (std::is_same_v<T, std::string>) {
    if (!n.is_string()) throw wrong("a string");
    return *n.value<std::string>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!n.is_boolean()) throw wrong("a boolean (true or false)");
    return *n.value<bool>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!n.is_number()) throw wrong("a number");
    return *n.value<double>();
  } else {
    if (!n.is_integer()) throw wrong("an integer");
    const int64_t v = *n.value<int64_t>();
    if (std::is_unsigned_v<T> && v < 0)
      throw InputError(where + ": key '" + key + "' must be >= 0, got " + std::to_string(v));
    return static_cast<T>(v);
  }
}

// The reader, writer and check of one key. A rule that does not fit the member's type
// (one_of on a number, a range on a string) has no rules::broken overload: it does not compile.
template <typename T, typename Rule>
Key make_key(const char* name, T Config::*member, Rule rule, std::string help) {
  Key k{name, std::move(help), {}, {}, {}};
  k.set = [key = k.name, member](Config& c, const toml::node& n, const std::string& where) {
    c.*member = read<T>(n, key, where);
  };
  k.get = [member](const Config& c) { return toml_text(c.*member); };
  k.broken = [member, rule](const Config& c) { return rules::broken(rule, c.*member); };
  return k;
}

// Every key, in the canonical order of to_toml.
const std::vector<Key>& keys() {
  using namespace rules;  // the rule words of config_keys.h: at_least, one_of, ...
  static const std::vector<Key> all = {
#define NIN_CONFIG_KEY(member, key, type, value, rule, help) make_key<type>(key, &Config::member, rule, help),
      NIN_CONFIG_KEYS(NIN_CONFIG_KEY)
#undef NIN_CONFIG_KEY
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

const Key* find_key(const std::string& name) {
  for (const auto& k : keys())
    if (k.name == name) return &k;
  return nullptr;
}

std::string unknown_key(const std::string& where, const std::string& key) {
  const Key* best = nullptr;
  size_t best_d = std::string::npos;
  for (const auto& k : keys()) {
    const size_t d = edit_distance(key, k.name);
    if (d < best_d) best_d = d, best = &k;
  }
  std::string msg = where + ": unknown key '" + key + "'";
  if (best && best_d <= std::max<size_t>(3, key.size() / 3)) msg += " (did you mean '" + best->name + "'?)";
  return msg;
}

// Keys of earlier versions that no longer choose anything, and what took their place.
struct Retired {
  const char* key;
  const char* replaced_by;
};
constexpr Retired kRetired[] = {
    {"train.foreach", "the fused update, which is now the only update"},
};

const Retired* find_retired(const std::string& key) {
  for (const auto& r : kRetired)
    if (key == r.key) return &r;
  return nullptr;
}

// InputError for a retired key at `where`, naming it and its replacement.
[[noreturn]] void refuse_retired(const std::string& where, const Retired& r) {
  throw InputError(where + ": " + r.key + " is retired, replaced by " + r.replaced_by +
                   ": delete it (a checkpoint's embedded config: `nin-dist upgrade OLD.nin NEW.nin` writes it without)");
}

std::string at(const std::string& file, const toml::node& n) {
  return file + ":" + std::to_string(n.source().begin.line);
}

void apply_table(Config& c, const toml::table& table, const std::string& prefix, const std::string& file) {
  for (auto&& [k, node] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const Key* known = find_key(key)) {
      known->set(c, node, at(file, node));
    } else if (const auto* sub = node.as_table()) {
      apply_table(c, *sub, key, file);
    } else if (const Retired* r = find_retired(key)) {
      refuse_retired(at(file, node), *r);
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

[[noreturn]] void out_of_range(const Config& c, const std::string& key, const std::string& value,
                               const std::string& rule) {
  const auto set = c.origin.find(key);  // blame the flag that gave the value, else the file
  throw InputError((set != c.origin.end() ? set->second : c.source) + ": " + key + " = " + value +
                   " is out of range: " + rule);
}

// A value as the error shows it: its TOML text, but an empty string as "" (what one types), not ''.
// A control character is shown escaped, so that the message stays one line.
std::string shown(const std::string& toml) {
  if (toml == "''") return "\"\"";
  std::string out;
  for (const unsigned char c : toml) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : (c < 0x20 || c == 0x7f) ? hex : std::string(1, char(c));
  }
  return out;
}

void require(bool ok, const Config& c, const std::string& key, const std::string& value,
             const std::string& rule) {
  if (!ok) out_of_range(c, key, value, rule);
}

}  // namespace

Config from_toml(const std::string& text, const std::string& source) {
  Config c;
  c.source = source;
  apply_table(c, parse(text, source), "", source);
  return c;
}

std::string without_retired_keys(const std::string& text, const std::string& source) {
  auto table = parse(text, source);
  bool dropped = false;
  for (const auto& r : kRetired) {
    const std::string key = r.key;
    const auto dot = key.rfind('.');
    auto* parent = dot == std::string::npos ? &table : table.at_path(key.substr(0, dot)).as_table();
    if (parent && parent->erase(key.substr(dot + 1)) > 0) dropped = true;
  }
  if (!dropped) return text;
  std::ostringstream out;
  out << table;
  return out.str();
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
  const Key* k = find_key(key);
  if (const Retired* r = find_retired(key); !k && r) refuse_retired(where, *r);
  if (!k) throw InputError(unknown_key(where, key));
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word: take it as a string
  }
  k->set(c, *parsed.get("v"), where);
  c.origin[key] = where;
}

void validate(const Config& c, int world_size) {
  // Each key's own rule from config_keys.h, first: the split below divides by train.accumulate.
  for (const auto& k : keys())
    if (const std::string rule = k.broken(c); !rule.empty()) out_of_range(c, k.name, shown(k.get(c)), rule);
  // Rules that involve the model or other keys.
  auto str = [](auto v) { return toml_text(v); };
  const int64_t min_size = model::min_input_size();
  require(c.resize >= min_size, c, "data.resize", str(c.resize),
          "NiN needs inputs of at least " + std::to_string(min_size) + "x" + std::to_string(min_size) + " pixels");
  const int64_t per_step = c.batch_size / c.accumulate;
  require(c.batch_size % c.accumulate == 0, c, "train.batch_size", str(c.batch_size),
          "must be divisible by train.accumulate = " + str(c.accumulate));
  require(!c.cuda_graph || c.accumulate == 1, c, "train.accumulate", str(c.accumulate),
          "a captured step (train.cuda_graph = true) runs one micro-batch a step: set it to 1");
  require(!c.cuda_graph || c.trace_steps.empty(), c, "log.trace_steps", str(c.trace_steps),
          "a replayed CUDA graph has no steps to time one by one: set train.cuda_graph = false to trace");
  require(!c.cuda_graph || c.profile_steps.empty(), c, "log.profile_steps", str(c.profile_steps),
          "the profiler is not checked with a replayed CUDA graph: set train.cuda_graph = false to profile");
  require(!c.keep_best || c.val_split > 0, c, "checkpoint.keep_best", "true",
          "best.nin is chosen on the validation split: set data.val_split to hold some images out");
  require(c.train_limit == 0 || c.val_split < c.train_limit, c, "data.val_split", str(c.val_split),
          "must leave training images: data.train_limit is " + str(c.train_limit));
  require(per_step % world_size == 0, c, "train.batch_size", str(c.batch_size),
          "the global batch (per micro-batch " + str(per_step) + ") must be divisible by the " +
              std::to_string(world_size) + " ranks");
}

std::string to_toml(const Config& c) {
  std::ostringstream out;
  std::string section;
  for (const auto& k : keys()) {
    const auto dot = k.name.find('.');
    const std::string s = k.name.substr(0, dot);
    if (s != section) out << (section.empty() ? "" : "\n") << "[" << s << "]\n", section = s;
    out << k.name.substr(dot + 1) << " = " << k.get(c) << "\n";
  }
  return out.str();
}

uint64_t config_hash(const Config& c) {
  const std::string text = to_toml(c);
  return XXH64(text.data(), text.size(), /*seed=*/0);
}

std::chrono::milliseconds collective_timeout(const Config& c) {
  return std::chrono::milliseconds(static_cast<int64_t>(c.timeout_s * 1000));
}

std::vector<FieldInfo> config_reference() {
  const Config defaults;
  std::vector<FieldInfo> out;
  for (const auto& k : keys()) out.push_back({k.name, k.get(defaults), k.help});
  return out;
}

}  // namespace nin::config
