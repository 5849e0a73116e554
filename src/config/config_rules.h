// What one config key's value may be on its own: a number range, a list of strings, or anything.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nin::config::rules {

struct AnyValue {};

inline constexpr double kUnbounded = std::numeric_limits<double>::infinity();

// lo <= v (or lo < v) and v <= hi (or v < hi); NaN is never in range.
struct Range {
  double lo;
  double hi;
  bool lo_open;
  bool hi_open;
  bool finite;  // also reject +-inf, which TOML can spell
};

struct OneOf {
  std::vector<std::string> choices;
};

// A file or folder name: no control characters (a newline would end a line of a log or of a
// label in curves.svg), and not empty when `empty_rule` says what an empty value is told.
struct Path {
  std::string empty_rule;
};

// "A:B" with 0 <= A <= B (two step indices), or "" for off.
struct StepRange {};

inline AnyValue any_value() { return {}; }
inline Range at_least(double lo) { return {lo, kUnbounded, false, false, false}; }
inline Range above(double lo) { return {lo, kUnbounded, /*lo_open=*/true, false, false}; }
inline Range finite_above(double lo) { return {lo, kUnbounded, /*lo_open=*/true, false, /*finite=*/true}; }
inline Range finite_at_least(double lo) { return {lo, kUnbounded, false, false, /*finite=*/true}; }
inline Range finite() { return {-kUnbounded, kUnbounded, false, false, /*finite=*/true}; }
inline Range half_open(double lo, double hi) { return {lo, hi, false, /*hi_open=*/true, false}; }  // [lo, hi)
template <typename... S>
OneOf one_of(S... choices) {
  return OneOf{{choices...}};
}
inline Path path(const char* empty_rule = "") { return Path{empty_rule}; }
inline StepRange step_range() { return {}; }

// (A, B) of "A:B" (decimal digits only, 0 <= A <= B); nullopt for anything else, "" too.
std::optional<std::pair<int64_t, int64_t>> parse_step_range(const std::string& text);

// The rule `v` breaks, worded for "KEY = VALUE is out of range: ...", or "" when it keeps it.
template <typename T>
std::string broken(const AnyValue&, const T&) {
  return "";
}
std::string broken(const Range& r, double v);
std::string broken(const OneOf& r, const std::string& v);
std::string broken(const Path& r, const std::string& v);
std::string broken(const StepRange& r, const std::string& v);
inline Range between(double lo, double hi) { return {lo, hi, false, false, false}; }  // [lo, hi]

}  // namespace nin::config::rules
