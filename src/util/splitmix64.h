// splitmix64: spreads nearby integers (seed, epoch, step, rank) to unrelated 64-bit values.
#pragma once

#include <cstdint>

namespace nin {

// The finaliser of Vigna's splitmix64; a bijection, so distinct inputs stay distinct.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace nin
