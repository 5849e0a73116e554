// The safetensors payload: a round trip, and hostile headers refused before any allocation.
#include <gtest/gtest.h>

#include <cstring>

#include <torch/torch.h>

#include "format/safetensors.h"
#include "test_util.h"

using namespace nin::format;
using nin::test::input_error;

namespace {

// A payload with `header` as its JSON text and `data_bytes` zero bytes of data.
std::string payload(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, sizeof n);
  return out + header + std::string(data_bytes, '\0');
}

std::string refusal(const std::string& header, size_t data_bytes) {
  return input_error([&] { decode_safetensors(payload(header, data_bytes), "f.nin"); });
}

}  // namespace

TEST(FormatSafetensors, RoundTripKeepsNamesDtypesShapesBytesAndMetadata) {
  const NamedTensors in = {{"w", torch::randn({3, 4})},
                           {"b", torch::arange(5, torch::kInt64)},
                           {"s", torch::tensor(7, torch::kInt64).reshape({})},
                           {"e", torch::empty({0, 3})},
                           {"d", torch::randn({2}, torch::kFloat64)}};
  const auto bytes = encode_safetensors(in, {{"k", "v\nw"}});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // data 8-byte aligned, as the reference writer does
  const auto out = decode_safetensors(bytes, "f");
  EXPECT_EQ(out.metadata.at("k"), "v\nw");
  ASSERT_EQ(out.tensors.size(), in.size());
  for (const auto& [name, t] : in) {
    const auto it = std::find_if(out.tensors.begin(), out.tensors.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(it, out.tensors.end()) << name;
    EXPECT_EQ(it->second.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(it->second, t)) << name;
  }
}

TEST(FormatSafetensors, HostileHeadersAreRefusedNamingTheEntry) {
  EXPECT_NE(refusal(R"({"t":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}})", 4).find("unknown dtype"), std::string::npos);
  EXPECT_NE(refusal(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4).find("'t': shape [2] needs 8 bytes"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 4).find("outside"), std::string::npos);
  EXPECT_NE(refusal(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"t":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1).find("rank"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1).find("non-count"), std::string::npos);
  EXPECT_NE(refusal(R"({"__metadata__":{"k":1}})", 0).find("__metadata__.k is not a string"), std::string::npos);
  EXPECT_NE(refusal("[1,2]", 0).find("not a JSON object"), std::string::npos);
  EXPECT_NE(refusal("{", 0).find("not a JSON object"), std::string::npos);
  // 2^62 elements in a 16-byte file: refused, not allocated (which would throw bad_alloc).
  EXPECT_NE(refusal(R"({"t":{"dtype":"F32","shape":[4294967296,1073741824],"data_offsets":[0,16]}})", 16)
                .find("overflows"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"t":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,16]}})", 16)
                .find("needs 4294967296 bytes, data_offsets span 16"),
            std::string::npos);
  // A header length beyond the file.
  std::string cut = payload("{}", 0);
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(cut.data(), &huge, 8);
  EXPECT_NE(input_error([&] { decode_safetensors(cut, "f.nin"); }).find("does not fit"), std::string::npos);
  EXPECT_NE(input_error([&] { decode_safetensors("abc", "f.nin"); }).find("truncated"), std::string::npos);
}
