// PyTorch state dicts: save/load round trip, and every way assign_state_dict refuses a dict.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "model/nin.h"
#include "train/interop.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace nin::train;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("nin-interop-test-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const nin::InputError& e) {
    return e.what();
  }
  return "";
}

NamedTensors tensors_of(const nin::model::NiN& model) {
  NamedTensors out;
  for (const auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value().detach().clone());
  return out;
}

NamedTensors::iterator find(NamedTensors& tensors, const std::string& name) {
  return std::find_if(tensors.begin(), tensors.end(), [&](const auto& nt) { return nt.first == name; });
}

}  // namespace

TEST(Interop, SaveLoadRoundTripKeepsNamesOrderAndValues) {
  const auto dir = fresh_dir("roundtrip");
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
  const auto dir = fresh_dir("nin");
  nin::model::NiN a(nin::model::NiNOptions{1, 10, 0.5});
  nin::model::NiN b(nin::model::NiNOptions{1, 10, 0.5});
  save_state_dict(dir / "model.pt", tensors_of(a));
  assign_state_dict(*b, load_state_dict(dir / "model.pt"), "model.pt");
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
  const auto dir = fresh_dir("bad");
  EXPECT_NE(input_error([&] { load_state_dict(dir / "absent.pt"); }).find("absent.pt"), std::string::npos);
  std::ofstream(dir / "junk.pt", std::ios::binary) << "this is not a zip archive";
  const auto msg = input_error([&] { load_state_dict(dir / "junk.pt"); });
  EXPECT_NE(msg.find("junk.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch.save(dict(model.state_dict())"), std::string::npos) << msg;
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
  auto msg = input_error([&] { assign_state_dict(*model, missing, "m.pt"); });
  EXPECT_NE(msg.find("m.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("net.4.2.bias"), std::string::npos) << msg;

  auto misshapen = tensors_of(model);
  find(misshapen, "net.7.0.weight")->second = torch::zeros({5, 384, 3, 3});
  find(misshapen, "net.0.0.bias")->second = torch::zeros({96});  // a valid tensor before the bad one
  msg = input_error([&] { assign_state_dict(*model, misshapen, "m.pt"); });
  EXPECT_NE(msg.find("net.7.0.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 384, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[10, 384, 3, 3]"), std::string::npos) << msg;

  auto extra = tensors_of(model);
  extra.emplace_back("net.8.weight", torch::zeros({3}));
  msg = input_error([&] { assign_state_dict(*model, extra, "m.pt"); });
  EXPECT_NE(msg.find("m.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("net.8.weight"), std::string::npos) << msg;

  EXPECT_TRUE(unchanged());
}
