// The current time in UTC, as strftime's format writes it.
#pragma once

#include <ctime>
#include <string>

namespace nin::util {

inline std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[64];
  return std::string(text, std::strftime(text, sizeof text, format, &tm));
}

}  // namespace nin::util
