// IDX reader and FashionMNIST loader: round trips, every rejected defect, the real files.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "data/fashion_mnist.h"
#include "data/idx.h"
#include "test_util.h"
#include "util/error.h"
#include "util/input_limit.h"

namespace fs = std::filesystem;
using nin::data::load_split;
using nin::data::read_idx_u8;

namespace {

using Bytes = std::vector<unsigned char>;

constexpr unsigned char kU8 = 0x08;  // IDX dtype code for unsigned byte

// An IDX file: two zero bytes, dtype, ndims, big-endian dims, then `data`.
Bytes idx_bytes(const std::vector<uint32_t>& dims, const Bytes& data, unsigned char dtype = kU8) {
  Bytes b = {0, 0, dtype, static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8)
      b.push_back(static_cast<unsigned char>(d >> shift));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// n bytes that deflate cannot shrink much (a fixed LCG), so half a .gz is half the data.
Bytes noise(size_t n) {
  Bytes b(n);
  uint32_t x = 12345;
  for (auto& v : b) v = static_cast<unsigned char>((x = x * 1664525u + 1013904223u) >> 24);
  return b;
}

Bytes iota_bytes(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(i);
  return b;
}

void write_raw(const fs::path& p, const Bytes& b) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const fs::path& p, const Bytes& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

Bytes read_raw(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// The InputError message `f` throws; a test failure if it throws nothing or another type.
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const nin::InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected nin::InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected nin::InputError, nothing thrown";
  return "";
}

void expect_has(const std::string& msg, const std::vector<std::string>& parts) {
  for (const auto& part : parts)
    EXPECT_NE(msg.find(part), std::string::npos) << msg << "\nlacks: " << part;
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("nin_idx_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(IdxTest, RoundTripRaw) {
  write_raw(path("a-idx3-ubyte"), idx_bytes({3, 2, 4}, iota_bytes(24)));
  const torch::Tensor t = read_idx_u8(path("a-idx3-ubyte"), 3);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(t.equal(torch::arange(24, torch::kUInt8).view({3, 2, 4})));
}

TEST_F(IdxTest, RoundTripGzip) {
  write_gz(path("a-idx1-ubyte.gz"), idx_bytes({300}, iota_bytes(300)));
  const torch::Tensor t = read_idx_u8(path("a-idx1-ubyte.gz"), 1);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{300}));
  EXPECT_EQ(t[299].item<int64_t>(), 299 % 256);
}

TEST_F(IdxTest, TruncatedRaw) {
  const std::string p = path("t-idx3-ubyte");
  write_raw(p, idx_bytes({3, 2, 4}, iota_bytes(10)));
  const std::string msg = input_error([&] { read_idx_u8(p, 3); });
  EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
  expect_has(msg, {"truncated", "header says 3x2x4 = 24 bytes of data, found 10"});
}

TEST_F(IdxTest, TruncatedHugeHeaderDoesNotAllocate) {
  const std::string p = path("h-idx3-ubyte");
  write_raw(p, idx_bytes({60000, 4000000, 4000000}, iota_bytes(7)));
  expect_has(input_error([&] { read_idx_u8(p, 3); }), {p, "truncated", "found 7"});
}

TEST_F(IdxTest, DataAboveTheAbsoluteCapIsRefused) {
  const std::string p = path("big-idx1-ubyte");
  write_raw(p, idx_bytes({300}, iota_bytes(300)));
  {
    const nin::test::ScopedEnv limit(nin::kMaxInputBytesEnv, "299");
    expect_has(input_error([&] { read_idx_u8(p, 1); }), {p, "300 bytes of data, above the limit of 299 bytes (NIN_MAX_INPUT_BYTES)"});
  }
  EXPECT_EQ(read_idx_u8(p, 1).numel(), 300);
}

TEST_F(IdxTest, TruncatedGzip) {
  const std::string whole = path("whole.gz"), half = path("half-idx3-ubyte.gz");
  write_gz(whole, idx_bytes({100, 28, 28}, noise(78400)));
  Bytes b = read_raw(whole);
  b.resize(b.size() / 2);
  write_raw(half, b);
  const std::string msg = input_error([&] { read_idx_u8(half, 3); });
  EXPECT_EQ(msg.rfind(half + ": ", 0), 0u) << msg;
  expect_has(msg, {"truncated", "100x28x28 = 78400 bytes", "unexpected end of file"});
}

TEST_F(IdxTest, CorruptGzipChecksum) {
  const std::string p = path("crc-idx1-ubyte.gz");
  write_gz(p, idx_bytes({50}, iota_bytes(50)));
  Bytes b = read_raw(p);
  b[b.size() - 8] ^= 0xff;  // the CRC-32 of the gzip trailer
  write_raw(p, b);
  expect_has(input_error([&] { read_idx_u8(p, 1); }), {p, "incorrect data check"});
}

TEST_F(IdxTest, TrailingBytes) {
  const std::string p = path("x-idx1-ubyte");
  write_raw(p, idx_bytes({5}, iota_bytes(8)));
  expect_has(input_error([&] { read_idx_u8(p, 1); }),
             {p, "trailing bytes", "5 = 5 bytes of data, found 8"});
}

TEST_F(IdxTest, WrongMagic) {
  const std::string p = path("m-idx1-ubyte.gz");
  Bytes b = idx_bytes({4}, iota_bytes(4));
  b[0] = 0x12;
  write_gz(p, b);
  expect_has(input_error([&] { read_idx_u8(p, 1); }), {p, "bad magic 0x12000801"});
}

TEST_F(IdxTest, WrongDtype) {
  const std::string p = path("d-idx1-ubyte");
  write_raw(p, idx_bytes({4}, iota_bytes(16), /*dtype=*/0x0d));
  expect_has(input_error([&] { read_idx_u8(p, 1); }), {p, "wrong dtype 0x0d", "expected 0x08"});
}

TEST_F(IdxTest, WrongDims) {
  const std::string p = path("n-idx2-ubyte");
  write_raw(p, idx_bytes({2, 3}, iota_bytes(6)));
  expect_has(input_error([&] { read_idx_u8(p, 3); }),
             {p, "wrong number of dimensions: file has 2, expected 3"});
}

TEST_F(IdxTest, EmptyFile) {
  const std::string p = path("e-idx1-ubyte");
  write_raw(p, {});
  expect_has(input_error([&] { read_idx_u8(p, 1); }), {p, "empty file"});
}

TEST_F(IdxTest, MissingFile) {
  const std::string p = path("nope-idx1-ubyte.gz");
  expect_has(input_error([&] { read_idx_u8(p, 1); }), {p, "no such file"});
}

// A synthetic train split: `n_images` 2x3 images, the given labels.
class SplitTest : public IdxTest {
 protected:
  void write_split(uint32_t n_images, const Bytes& labels) {
    write_gz(path("train-images-idx3-ubyte.gz"),
             idx_bytes({n_images, 2, 3}, iota_bytes(6 * n_images)));
    write_raw(path("train-labels-idx1-ubyte"),
              idx_bytes({static_cast<uint32_t>(labels.size())}, labels));
  }
};

TEST_F(SplitTest, LoadsGzipImagesAndRawLabels) {
  write_split(5, {0, 1, 9, 3, 4});
  const auto split = load_split(dir_.string(), /*train=*/true, /*num_classes=*/10);
  EXPECT_EQ(split.size(), 5);
  EXPECT_EQ(split.images.sizes(), (std::vector<int64_t>{5, 2, 3}));
  EXPECT_EQ(split.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(split.labels[2].item<int64_t>(), 9);
  const auto kept = load_split(dir_.string(), true, 10, /*limit=*/2);
  EXPECT_EQ(kept.size(), 2);
  EXPECT_TRUE(kept.images.equal(split.images.narrow(0, 0, 2)));
}

TEST_F(SplitTest, CountMismatch) {
  write_split(5, {0, 1, 2, 3});
  expect_has(input_error([&] { load_split(dir_.string(), true, 10); }),
             {path("train-images-idx3-ubyte.gz"), "5 images", path("train-labels-idx1-ubyte"),
              "4 labels"});
}

TEST_F(SplitTest, LabelOutOfRange) {
  write_split(5, {0, 1, 12, 3, 4});
  const std::string msg = input_error([&] { load_split(dir_.string(), true, 10); });
  EXPECT_EQ(msg.rfind(path("train-labels-idx1-ubyte") + ": ", 0), 0u) << msg;
  expect_has(msg, {"label 12 at index 2 is outside 0..9"});
}

TEST_F(SplitTest, MissingFileAndDirectory) {
  expect_has(
      input_error([&] { load_split(dir_.string(), false, 10); }),
      {path("t10k-images-idx3-ubyte.gz"), path("t10k-images-idx3-ubyte") + ")", "not found"});
  const std::string gone = path("gone");
  expect_has(input_error([&] { load_split(gone, false, 10); }), {gone, "not found"});
}

TEST(FashionMnistClassName, NamedOnlyForTenClasses) {
  EXPECT_EQ(nin::data::class_name(0, 10), "T-shirt/top");
  EXPECT_EQ(nin::data::class_name(9, 10), "Ankle boot");
  EXPECT_EQ(nin::data::class_name(3, 5), "");   // other labels have no names
  EXPECT_EQ(nin::data::class_name(10, 10), "");  // out of range: no name, no read past the list
  EXPECT_EQ(nin::data::class_name(-1, 10), "");
}

constexpr const char* kRealDir = "/usr/share/datasets/fashion-mnist";

TEST(FashionMnistReal, TestSplitIsBalanced) {
  if (!fs::is_directory(kRealDir)) GTEST_SKIP() << kRealDir << " not installed";
  const auto split = load_split(kRealDir, /*train=*/false, /*num_classes=*/10);
  EXPECT_EQ(split.images.sizes(), (std::vector<int64_t>{10000, 28, 28}));
  EXPECT_EQ(split.images.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(split.labels.bincount({}, 10).equal(torch::full({10}, 1000, torch::kInt64)));
}

TEST(FashionMnistReal, TrainLimit) {
  if (!fs::is_directory(kRealDir)) GTEST_SKIP() << kRealDir << " not installed";
  const auto split = load_split(kRealDir, /*train=*/true, /*num_classes=*/10, /*limit=*/500);
  EXPECT_EQ(split.size(), 500);
  EXPECT_EQ(split.images.sizes(), (std::vector<int64_t>{500, 28, 28}));
  EXPECT_LT(split.labels.max().item<int64_t>(), 10);
}

}  // namespace

TEST_F(IdxTest, AbsoluteSizeLimitHoldsWhateverTheFileSize) {
  // 2.2 MB of gzip may inflate to 2.4 GB, so the relative bound lets a 2.3 GB header through.
  write_gz(path("huge.gz"), idx_bytes({1, 46000, 50000}, noise(2200000)));
  const auto msg = input_error([&] { read_idx_u8(path("huge.gz"), 3); });
  EXPECT_NE(msg.find("above the limit of 2147483648 bytes"), std::string::npos) << msg;
}

TEST_F(IdxTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  const auto msg = input_error([&] { read_idx_u8(path("fifo"), 1); });
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
}
