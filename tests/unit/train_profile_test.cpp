// profile.md's figures from the profiler's events: self time on a host thread, device time by
// kernel, the table's rows, the rest and the total.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "monitor/profile.h"

using nin::monitor::ProfiledEvent;
using nin::monitor::ProfileRow;

namespace {

nin::monitor::ProfiledEvent host(const std::string& name, uint64_t thread, double start, double dur) {
  return {name, false, thread, start, dur};
}
nin::monitor::ProfiledEvent kernel(const std::string& name, double start, double dur) { return {name, true, 7, start, dur}; }

const nin::monitor::ProfileRow* find(const std::vector<nin::monitor::ProfileRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

}  // namespace

// A step range holds conv (with a nested conv kernel call) and add; self time is what no nested
// event covers, on each thread apart; device events are left to device_time().
TEST(Profile, HostSelfTimeSubtractsNestedEventsPerThread) {
  const std::vector<nin::monitor::ProfiledEvent> events = {
      host("nin::step", 1, 0, 120),
      host("aten::convolution", 1, 10, 50),
      host("aten::mkldnn_convolution", 1, 15, 40),
      host("aten::add_", 1, 70, 10),
      host("aten::add_", 2, 20, 30),  // another thread (autograd's): nested in nothing
      kernel("sgemm", 0, 500),
  };
  const auto rows = nin::monitor::host_self_time(events);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].name, "nin::step");  // the largest first
  EXPECT_DOUBLE_EQ(rows[0].total_us, 120 - 50 - 10);
  EXPECT_DOUBLE_EQ(find(rows, "aten::convolution")->total_us, 10);
  EXPECT_DOUBLE_EQ(find(rows, "aten::mkldnn_convolution")->total_us, 40);
  EXPECT_EQ(find(rows, "aten::add_")->count, 2);
  EXPECT_DOUBLE_EQ(find(rows, "aten::add_")->total_us, 40);
  EXPECT_EQ(find(rows, "sgemm"), nullptr);
}

// An event that starts inside another and ends after it takes only its overlap away.
TEST(Profile, HostSelfTimeClipsAnOverlap) {
  const auto rows = nin::monitor::host_self_time({host("a", 1, 0, 10), host("b", 1, 6, 10)});
  EXPECT_DOUBLE_EQ(find(rows, "a")->total_us, 6);
  EXPECT_DOUBLE_EQ(find(rows, "b")->total_us, 10);
}

TEST(Profile, DeviceTimeSumsKernelsByName) {
  const auto rows = nin::monitor::device_time(
      {kernel("gemm", 0, 30), kernel("relu", 30, 5), kernel("gemm", 40, 30), host("aten::mm", 1, 0, 80)});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "gemm");
  EXPECT_EQ(rows[0].count, 2);
  EXPECT_DOUBLE_EQ(rows[0].total_us, 60);
  EXPECT_EQ(rows[1].name, "relu");
}

// ms, ms per step and % of all rows; the rows past `top` in one row; a '|' in a name escaped.
TEST(Profile, TableHasTopRowsOthersAndTotal) {
  const std::vector<nin::monitor::ProfileRow> rows = {{"gemm", 20, 6000}, {"a|b", 10, 3000}, {"x", 1, 600}, {"y", 3, 400}};
  const auto table = nin::monitor::profile_table(rows, /*steps=*/2, /*top=*/2);
  EXPECT_EQ(table,
            "| name | count | total ms | ms/step | % |\n"
            "| --- | ---: | ---: | ---: | ---: |\n"
            "| gemm | 20 | 6.000 | 3.000 | 60.0 |\n"
            "| a\\|b | 10 | 3.000 | 1.500 | 30.0 |\n"
            "| (2 others) | 4 | 1.000 | 0.500 | 10.0 |\n"
            "| (total) | 34 | 10.000 | 5.000 | 100.0 |\n");
  EXPECT_NE(nin::monitor::profile_table({}, 3, 5).find("\n| (total) | 0 | 0.000 | 0.000 | 0.0 |\n"), std::string::npos);
}
