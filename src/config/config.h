// The run's configuration: a TOML file plus --set overrides, validated into one struct.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config_keys.h"

namespace nin::config {

// One member per key of config_keys.h, with its default: cfg.lr is train.lr, cfg.run_dir is run.dir.
struct Config {
#define NIN_CONFIG_MEMBER(member, key, type, value, rule, help) type member = value;
  NIN_CONFIG_KEYS(NIN_CONFIG_MEMBER)
#undef NIN_CONFIG_MEMBER

  std::string source = "<defaults>";         // the file it came from, for messages
  std::map<std::string, std::string> origin;  // key -> the --set that gave its value, for messages
};

// One entry of the config reference.
struct FieldInfo {
  std::string key;    // dotted: "train.lr"
  std::string value;  // default, as TOML
  std::string doc;
};

// Reads `path` (TOML) over the defaults, then applies `overrides` ("train.lr=0.1").
// Unknown keys, wrong types, syntax errors and out-of-range values throw InputError
// naming the file (or --set), the key, the line and the value.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Applies one "key=value" override; value is TOML (bare words are taken as strings).
void apply_override(Config& config, const std::string& assignment);
// Range and consistency checks; world_size checks the batch split over ranks.
void validate(const Config& config, int world_size);

std::string to_toml(const Config& config);  // canonical form: every key, fixed order
Config from_toml(const std::string& text, const std::string& source);
// `text` without the keys of earlier versions that from_toml refuses (`nin-dist upgrade`
// rewrites a checkpoint's embedded config with it); `text` itself when it holds none.
std::string without_retired_keys(const std::string& text, const std::string& source);
uint64_t config_hash(const Config& config);  // XXH64 of to_toml: ranks must agree
// dist.timeout_s as the communicators take it: a collective stuck this long ends the job.
std::chrono::milliseconds collective_timeout(const Config& config);
std::vector<FieldInfo> config_reference();

}  // namespace nin::config
