// Absolute caps on what one input file may make nin-dist allocate, whatever its header says.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "util/error.h"

namespace nin {

// NIN_MAX_INPUT_BYTES raises (or lowers) every cap at once, for datasets or imports larger
// than any FashionMNIST-sized model or data needs.
constexpr const char* kMaxInputBytesEnv = "NIN_MAX_INPUT_BYTES";

// `default_bytes`, or NIN_MAX_INPUT_BYTES when set; InputError naming the variable when it
// is not a positive integer.
inline uint64_t input_limit(uint64_t default_bytes) {
  const char* text = std::getenv(kMaxInputBytesEnv);
  if (!text || !*text) return default_bytes;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || *text == '-')
    throw InputError(std::string(kMaxInputBytesEnv) + "='" + text + "': expected a positive number of bytes");
  return v;
}

}  // namespace nin
