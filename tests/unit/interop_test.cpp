// PyTorch state dicts: save/load round trip, and every way assign_state_dict refuses a dict.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <caffe2/serialize/inline_container.h>

#include "checkpoint/interop.h"
#include "format/unpickler.h"
#include "format/zip.h"
#include "model/nin.h"
#include "test_util.h"
#include "util/error.h"
#include "util/input_limit.h"

namespace fs = std::filesystem;
using namespace nin::checkpoint;
using nin::test::fresh_dir;
using nin::test::input_error;
using nin::test::ScopedEnv;

namespace {

NamedTensors tensors_of(const nin::model::NiN& model) {
  NamedTensors out;
  for (const auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value().detach().clone());
  return out;
}

NamedTensors::iterator find(NamedTensors& tensors, const std::string& name) {
  return std::find_if(tensors.begin(), tensors.end(), [&](const auto& nt) { return nt.first == name; });
}

// Pickle snippets, spelled as Python's pickle (protocol 2) writes them for torch.save.
std::string str(const std::string& s) {
  std::string out = "X";
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
  return out + s;
}
std::string small_int(int v) { return std::string("K") + static_cast<char>(v); }
std::string ints(std::initializer_list<int> values) {
  std::string out = "(";
  for (int v : values) out += small_int(v);
  return out + "t";
}
const std::string kOrderedDict = "ccollections\nOrderedDict\n)R";
// _rebuild_tensor_v2(storage data/KEY of 6 floats, offset, size, stride, False, OrderedDict())
std::string tensor(const std::string& key, int offset, std::initializer_list<int> size,
                   std::initializer_list<int> stride) {
  return "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") + "ctorch\nFloatStorage\n" + str(key) + str("cpu") +
         small_int(6) + "tQ" + small_int(offset) + ints(size) + ints(stride) + "\x89" + kOrderedDict + "tR";
}
void write_archive(const fs::path& path, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamWriter writer(path.string());
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  const auto storage = torch::arange(6, torch::kFloat32);
  writer.writeRecord("data/0", storage.data_ptr(), storage.nbytes());
  writer.writeEndOfFile();
}

}  // namespace

TEST(Interop, SaveLoadRoundTripKeepsNamesOrderAndValues) {
  const auto dir = fresh_dir("interop-roundtrip");
  const NamedTensors saved = {{"net.0.0.weight", torch::randn({4, 1, 3, 3})},
                              {"net.0.0.bias", torch::randn({4})},
                              {"counter", torch::arange(5, torch::kInt64)},
                              {"strided", torch::randn({6, 4}).t()}};  // non-contiguous on purpose
  save_state_dict(dir / "model.pt", saved);
  EXPECT_FALSE(fs::exists(dir / "model.pt.tmp"));
  const auto loaded = load_state_dict(dir / "model.pt");
  ASSERT_EQ(loaded.size(), saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    EXPECT_EQ(loaded[i].first, saved[i].first);
    EXPECT_EQ(loaded[i].second.scalar_type(), saved[i].second.scalar_type()) << saved[i].first;
    EXPECT_TRUE(torch::equal(loaded[i].second, saved[i].second)) << saved[i].first;
  }
}

TEST(Interop, ExportedNiNLoadsBackIntoAFreshModel) {
  const auto dir = fresh_dir("interop-nin");
  nin::model::NiN a(nin::model::NiNOptions{1, 10, 0.5});
  nin::model::NiN b(nin::model::NiNOptions{1, 10, 0.5});
  save_state_dict(dir / "model.pt", tensors_of(a));
  nin::checkpoint::assign_state_dict(*b, load_state_dict(dir / "model.pt"), "model.pt");
  const auto pa = a->named_parameters();
  const auto pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  a->eval();
  b->eval();
  const auto x = torch::rand({2, 1, 67, 67});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
}

TEST(Interop, LoadRejectsMissingAndForeignFiles) {
  const auto dir = fresh_dir("interop-bad");
  EXPECT_NE(input_error([&] { load_state_dict(dir / "absent.pt"); }).find("absent.pt"), std::string::npos);
  std::ofstream(dir / "junk.pt", std::ios::binary) << "this is not a zip archive";
  const auto msg = input_error([&] { load_state_dict(dir / "junk.pt"); });
  EXPECT_NE(msg.find("junk.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch.save(dict(model.state_dict())"), std::string::npos) << msg;
}

TEST(Interop, AFlippedByteInATensorFailsItsCrc) {
  const auto dir = fresh_dir("interop-crc");
  const auto weights = torch::arange(64, torch::kFloat32);
  save_state_dict(dir / "model.pt", {{"w", weights}});
  std::string bytes;
  {
    std::ifstream in(dir / "model.pt", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto crcs = nin::format::zip_crcs(bytes);
  ASSERT_EQ(crcs.count("data/0"), 1u);
  const float needle = 40.0f;  // one float of the tensor's data, found in the archive
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&needle), sizeof needle));
  ASSERT_NE(at, std::string::npos);
  bytes[at] ^= 0x01;
  std::ofstream(dir / "flipped.pt", std::ios::binary) << bytes;
  const auto msg = input_error([&] { load_state_dict(dir / "flipped.pt"); });
  EXPECT_NE(msg.find("flipped.pt: entry 'data/0' is damaged: its CRC-32 is"), std::string::npos) << msg;
  EXPECT_EQ(load_state_dict(dir / "model.pt").size(), 1u);  // the undamaged file still loads
}

TEST(Interop, ZipDirectoryOutsideTheFileIsRefused) {
  const auto dir = fresh_dir("interop-zipdir");
  save_state_dict(dir / "model.pt", {{"w", torch::ones({3})}});
  std::ifstream in(dir / "model.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THROW(nin::format::zip_crcs(bytes.substr(0, 10)), std::runtime_error);
  EXPECT_THROW(nin::format::zip_crcs(bytes.substr(bytes.size() / 2)), std::runtime_error);  // offsets past the start
  std::string huge = bytes;
  const auto end64 = huge.rfind("PK\x06\x06");  // PyTorch writes zip64: the count is in its end record
  ASSERT_NE(end64, std::string::npos);
  huge[end64 + 36] = '\x01';  // 2^32 more entries in a directory of a few hundred bytes
  EXPECT_THROW(nin::format::zip_crcs(huge), std::runtime_error);
  EXPECT_NO_THROW(nin::format::zip_crcs(bytes));
  // An entry that claims more bytes than the file holds is refused before anything is allocated.
  std::string big = bytes;
  const auto central = big.find("PK\x01\x02");
  ASSERT_NE(central, std::string::npos);
  for (int i = 0; i < 4; ++i) big[central + 20 + i] = big[central + 24 + i] = '\x7f';
  try {
    nin::format::zip_crcs(big);
    ADD_FAILURE() << "a 2 GB entry in a small file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("claims 2139062143 bytes, more than the"), std::string::npos) << e.what();
  }
}

TEST(Interop, ArchivesAboveTheAbsoluteCapAreRefused) {
  const auto dir = fresh_dir("interop-cap");
  save_state_dict(dir / "model.pt", {{"w", torch::ones({1000})}});  // 4000 bytes of tensor data
  std::ifstream in(dir / "model.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  {  // the entries together hold more than 3999 bytes, however the file packs them
    const ScopedEnv limit(nin::kMaxInputBytesEnv, "3999");
    try {
      nin::format::zip_crcs(bytes);
      ADD_FAILURE() << "entries above the cap were accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("once inflated, above the limit of 3999 (NIN_MAX_INPUT_BYTES)"),
                std::string::npos)
          << e.what();
    }
  }
  {
    const ScopedEnv limit(nin::kMaxInputBytesEnv, "3000");  // below the file's own size
    const auto msg = input_error([&] { load_state_dict(dir / "model.pt"); });
    EXPECT_NE(msg.find("model.pt: torch.save archive of " + std::to_string(bytes.size()) +
                       " bytes exceeds the limit of 3000 (NIN_MAX_INPUT_BYTES)"),
              std::string::npos)
        << msg;
  }
  {
    const ScopedEnv limit(nin::kMaxInputBytesEnv, "-5");
    EXPECT_NE(input_error([&] { load_state_dict(dir / "model.pt"); }).find("NIN_MAX_INPUT_BYTES='-5'"),
              std::string::npos);
  }
  EXPECT_EQ(load_state_dict(dir / "model.pt").size(), 1u);  // the default cap is far above it
}

TEST(Interop, AssignRejectsMissingWrongShapeAndExtraTensorsAndLeavesModelUnchanged) {
  nin::model::NiN model(nin::model::NiNOptions{1, 10, 0.5});
  const auto before = tensors_of(model);
  const auto unchanged = [&] {
    const auto now = tensors_of(model);
    for (size_t i = 0; i < now.size(); ++i)
      if (!torch::equal(now[i].second, before[i].second)) return false;
    return true;
  };

  auto missing = tensors_of(model);
  missing.erase(find(missing, "net.4.2.bias"));
  auto msg = input_error([&] { nin::checkpoint::assign_state_dict(*model, missing, "m.pt"); });
  EXPECT_NE(msg.find("m.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("net.4.2.bias"), std::string::npos) << msg;

  auto misshapen = tensors_of(model);
  find(misshapen, "net.7.0.weight")->second = torch::zeros({5, 384, 3, 3});
  find(misshapen, "net.0.0.bias")->second = torch::zeros({96});  // a valid tensor before the bad one
  msg = input_error([&] { nin::checkpoint::assign_state_dict(*model, misshapen, "m.pt"); });
  EXPECT_NE(msg.find("net.7.0.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 384, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[10, 384, 3, 3]"), std::string::npos) << msg;

  auto extra = tensors_of(model);
  extra.emplace_back("net.8.weight", torch::zeros({3}));
  msg = input_error([&] { nin::checkpoint::assign_state_dict(*model, extra, "m.pt"); });
  EXPECT_NE(msg.find("m.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("net.8.weight"), std::string::npos) << msg;

  EXPECT_TRUE(unchanged());
}

TEST(Interop, ReadsAnOrderedDictWithMetadataAndViewsOfOneStorage) {
  // torch.save(model.state_dict(), p): OrderedDict, its items, then BUILD with {'_metadata': ...}.
  const auto dir = fresh_dir("interop-ordered");
  const std::string metadata = "}(" + str("_metadata") + kOrderedDict + "(" + str("") + "}" + str("version") +
                               small_int(1) + "suub";
  write_archive(dir / "sd.pt", "\x80\x02" + kOrderedDict + "q\x01(" + str("w") + tensor("0", 1, {2, 2}, {1, 2}) +
                                   str("b") + tensor("0", 0, {3}, {1}) + "u" + metadata + ".");
  const auto loaded = load_state_dict(dir / "sd.pt");
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].first, "w");
  EXPECT_TRUE(torch::equal(loaded[0].second, torch::tensor({{1.f, 3.f}, {2.f, 4.f}})));
  EXPECT_TRUE(loaded[0].second.is_contiguous());
  EXPECT_EQ(loaded[1].first, "b");
  EXPECT_TRUE(torch::equal(loaded[1].second, torch::tensor({0.f, 1.f, 2.f})));
}

TEST(Interop, RefusesPythonObjectsAndTensorsOutsideTheirStorage) {
  const auto dir = fresh_dir("interop-hostile");
  write_archive(dir / "call.pt", "\x80\x02" "cos\nsystem\n(" + str("touch " + (dir / "pwned").string()) + "tR.");
  auto msg = input_error([&] { load_state_dict(dir / "call.pt"); });
  EXPECT_NE(msg.find("os.system"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "pwned"));

  write_archive(dir / "outside.pt", "\x80\x02}(" + str("w") + tensor("0", 4, {2, 2}, {2, 1}) + "u.");
  msg = input_error([&] { load_state_dict(dir / "outside.pt"); });
  EXPECT_NE(msg.find("outside its storage"), std::string::npos) << msg;

  write_archive(dir / "nested.pt", "\x80\x02}(" + str("model") + "}u.");
  msg = input_error([&] { load_state_dict(dir / "nested.pt"); });
  EXPECT_NE(msg.find("'model' holds a dict, not a tensor"), std::string::npos) << msg;

  write_archive(dir / "cut.pt", "\x80\x02}(" + str("w"));
  msg = input_error([&] { load_state_dict(dir / "cut.pt"); });
  EXPECT_NE(msg.find("truncated pickle"), std::string::npos) << msg;
}

TEST(Interop, RefusesViewsLargerThanTheirStorageBeforeCopying) {
  // One element seen 2^33 times through a stride of 0: a 32 GiB copy before any check.
  const auto dir = fresh_dir("interop-stride0");
  std::string long8 = "\x8a\x08";
  for (int i = 0; i < 8; ++i) long8.push_back(static_cast<char>(((int64_t{1} << 33) >> (8 * i)) & 0xff));
  const std::string view = "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") + "ctorch\nFloatStorage\n" + str("0") +
                           str("cpu") + small_int(6) + "tQ" + small_int(0) + "(" + long8 + "t" + "(" + small_int(0) +
                           "t" + "\x89" + kOrderedDict + "tR";
  write_archive(dir / "zero-stride.pt", "\x80\x02}(" + str("w") + view + "u.");
  const auto msg = input_error([&] { load_state_dict(dir / "zero-stride.pt"); });
  EXPECT_NE(msg.find("more elements than its storage"), std::string::npos) << msg;
}

TEST(Interop, DeepNestingIsRefusedAndFreedWithoutRecursion) {
  const auto dir = fresh_dir("interop-deep");
  // (((...()...))): a million TUPLE1 around an empty tuple.
  write_archive(dir / "deep.pt", "\x80\x02)" + std::string(1000000, '\x85') + ".");
  const auto msg = input_error([&] { load_state_dict(dir / "deep.pt"); });
  EXPECT_NE(msg.find("nested deeper than 64 levels"), std::string::npos) << msg;
  // Nesting that escaped the depth count (lists filled through the memo) is still freed
  // without a stack overflow.
  auto root = std::make_shared<nin::format::PyValue>();
  auto* last = root.get();
  for (int i = 0; i < 1000000; ++i) {
    last->items.push_back(std::make_shared<nin::format::PyValue>());
    last = last->items.back().get();
  }
  root.reset();
  SUCCEED();
}

TEST(Interop, AContainerThatHoldsItselfIsRefused) {
  const auto dir = fresh_dir("interop-cycle");
  // d = {}; d["k"] = d, through the memo (BINPUT 0, BINGET 0): a cycle shared_ptr never frees.
  write_archive(dir / "dict.pt", std::string("\x80\x02}q\x00", 5) + str("k") + std::string("h\x00s.", 4));
  auto msg = input_error([&] { load_state_dict(dir / "dict.pt"); });
  EXPECT_NE(msg.find("a container holds itself"), std::string::npos) << msg;
  // l = []; l.append((l,)): the cycle passes through a tuple.
  write_archive(dir / "list.pt", std::string("\x80\x02]q\x00h\x00\x85\x61.", 9));
  msg = input_error([&] { load_state_dict(dir / "list.pt"); });
  EXPECT_NE(msg.find("a container holds itself"), std::string::npos) << msg;
  // Sharing without a cycle stays allowed: {"a": t, "b": t} with t = () from the memo.
  write_archive(dir / "shared.pt", "\x80\x02}(" + str("a") + ")q\x01" + str("b") + "h\x01u.");
  msg = input_error([&] { load_state_dict(dir / "shared.pt"); });
  EXPECT_EQ(msg.find("holds itself"), std::string::npos) << msg;
}
