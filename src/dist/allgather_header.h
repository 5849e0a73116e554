// What each rank tells the others before an allgather: its rows, dtype and row shape.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/types.h>

namespace nin::dist {

// A rank's header, int64s: rows (dim 0), dtype, dimensions, elements per row, then the
// first kShownDims sizes of a row (0 past its end); exchanged in one small all-gather.
constexpr int64_t kShownDims = 6;
constexpr int64_t kAllgatherHeader = 4 + kShownDims;  // int64s
using AllgatherHeader = std::array<int64_t, kAllgatherHeader>;

// std::invalid_argument unless `mine` can be gathered along dim 0 (local: no collective yet).
inline void check_allgather_input(const torch::Tensor& mine, const std::string& what) {
  if (!mine.defined()) throw std::invalid_argument(what + ": undefined tensor");
  if (mine.dim() == 0) throw std::invalid_argument(what + ": a 0-dim tensor has no rows to gather");
}

inline AllgatherHeader allgather_header(const torch::Tensor& mine) {
  AllgatherHeader header{};
  header[0] = mine.size(0);
  header[1] = static_cast<int64_t>(mine.scalar_type());
  header[2] = mine.dim();
  header[3] = 1;
  for (int64_t d = 1; d < mine.dim(); ++d) {
    header[3] *= mine.size(d);
    if (d - 1 < kShownDims) header[size_t(4 + d - 1)] = mine.size(d);
  }
  return header;
}

namespace detail {

inline std::string row_shape(const int64_t* header) {
  std::string text = "[";
  for (int64_t d = 0; d + 1 < header[2]; ++d) {
    if (d > 0) text += ", ";
    if (d == kShownDims) return text + "...] (" + std::to_string(header[3]) + " elements)";
    text += std::to_string(header[4 + d]);
  }
  return text + "]";
}

}  // namespace detail

// Each rank's rows, from every rank's header (`size` of them in rank order). Every rank
// holds the same headers, so a mismatch throws std::invalid_argument on every rank alike,
// naming the first rank whose dtype or row shape differs from rank 0's.
inline std::vector<int64_t> allgather_rows(const int64_t* headers, int size, const std::string& what) {
  const int64_t* first = headers;
  std::vector<int64_t> rows;
  for (int r = 0; r < size; ++r) {
    const int64_t* h = headers + int64_t(r) * kAllgatherHeader;
    const auto on = [&](int rank) { return " on rank " + std::to_string(rank); };
    if (h[1] != first[1]) {
      throw std::invalid_argument(what + ": dtype " + c10::toString(static_cast<c10::ScalarType>(h[1])) + on(r) +
                                  " but " + c10::toString(static_cast<c10::ScalarType>(first[1])) + on(0));
    }
    if (!std::equal(h + 2, h + kAllgatherHeader, first + 2)) {
      throw std::invalid_argument(what + ": row shape (dims 1..) " + detail::row_shape(h) + on(r) + " but " +
                                  detail::row_shape(first) + on(0));
    }
    rows.push_back(h[0]);
  }
  return rows;
}

}  // namespace nin::dist
