#include "config/config_rules.h"

#include <charconv>
#include <cmath>

namespace nin::config::rules {
namespace {

std::string number(double v) {
  if (v == std::trunc(v) && std::abs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));  // 100000, not 1e+05
  char buf[64];  // shortest form: 0, 1, 0.5
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

std::string broken(const Range& r, double v) {
  const bool ok = (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi) &&
                  (!r.finite || std::isfinite(v));
  if (ok) return "";
  if (std::isinf(r.lo) && std::isinf(r.hi)) return "must be a finite number";
  if (std::isinf(r.hi)) return std::string("must be ") + (r.lo_open ? "> " : ">= ") + number(r.lo);
  return std::string("must be in ") + (r.lo_open ? "(" : "[") + number(r.lo) + ", " + number(r.hi) +
         (r.hi_open ? ")" : "]");
}

std::string broken(const OneOf& r, const std::string& v) {
  for (const auto& c : r.choices)
    if (v == c) return "";
  std::string text = "must be ";  // "a", "b" or "c"
  for (size_t i = 0; i < r.choices.size(); ++i)
    text += (i == 0 ? "" : i + 1 == r.choices.size() ? " or " : ", ") + ("\"" + r.choices[i] + "\"");
  return text;
}

std::string broken(const Path& r, const std::string& v) {
  if (v.empty() && !r.empty_rule.empty()) return r.empty_rule;
  for (const unsigned char c : v)
    if (c < 0x20 || c == 0x7f) return "holds a control character (a newline, tab, ...); refused";
  return "";
}

std::optional<std::pair<int64_t, int64_t>> parse_step_range(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  const auto number = [](const char* first, const char* last) -> std::optional<int64_t> {
    int64_t v = 0;
    if (first == last || *first < '0' || *first > '9') return std::nullopt;  // no sign, no space
    const auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || end != last) return std::nullopt;
    return v;
  };
  const auto a = number(text.data(), text.data() + colon);
  const auto b = number(text.data() + colon + 1, text.data() + text.size());
  if (!a || !b || *a > *b) return std::nullopt;
  return std::make_pair(*a, *b);
}

std::string broken(const StepRange&, const std::string& v) {
  if (v.empty() || parse_step_range(v)) return "";
  return "must be \"A:B\", two step indices with 0 <= A <= B (e.g. \"2:6\"), or \"\" for off";
}

}  // namespace nin::config::rules
