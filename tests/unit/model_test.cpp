// NiN against the seed's layer table and parameter count.
#include <gtest/gtest.h>

#include <sstream>

#include "model/nin.h"

using nin::model::NiN;
using nin::model::NiNOptions;

TEST(Model, LayerShapesMatchTheSeedTable) {
  NiN model;
  const auto shapes = nin::model::layer_summary(model, torch::zeros({1, 1, 224, 224}));
  const std::vector<std::pair<std::string, std::vector<int64_t>>> seed = {
      {"Sequential", {1, 96, 54, 54}},  {"MaxPool2d", {1, 96, 26, 26}},  {"Sequential", {1, 256, 26, 26}},
      {"MaxPool2d", {1, 256, 12, 12}}, {"Sequential", {1, 384, 12, 12}}, {"MaxPool2d", {1, 384, 5, 5}},
      {"Dropout", {1, 384, 5, 5}},     {"Sequential", {1, 10, 5, 5}},    {"AdaptiveAvgPool2d", {1, 10, 1, 1}},
      {"Flatten", {1, 10}}};
  ASSERT_EQ(shapes.size(), seed.size());
  for (size_t i = 0; i < seed.size(); ++i) {
    EXPECT_EQ(shapes[i].layer, seed[i].first) << "layer " << i;
    EXPECT_EQ(shapes[i].shape, seed[i].second) << "layer " << i;
  }
}

TEST(Model, PrintedSummaryHasTheSeedsLines) {
  NiN model;
  std::ostringstream out;
  nin::model::print_summary(out, model, {1, 1, 224, 224});
  EXPECT_NE(out.str().find("Sequential output shape:\t torch.Size([1, 96, 54, 54])"), std::string::npos);
  EXPECT_NE(out.str().find("Flatten output shape:\t torch.Size([1, 10])"), std::string::npos);
  EXPECT_NE(out.str().find("Parameters: 1,992,166"), std::string::npos);
}

TEST(Model, ParameterCountFollowsChannelsAndClasses) {
  NiN seed;
  EXPECT_EQ(nin::model::parameter_count(*seed), 1992166);
  NiN rgb(NiNOptions{3, 10, 0.5});
  EXPECT_EQ(nin::model::parameter_count(*rgb), 1992166 + 2 * 11 * 11 * 96);
  NiN wide(NiNOptions{1, 100, 0.5});
  const auto out = wide->forward(torch::zeros({2, 1, 96, 96}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 100}));
}

TEST(Model, ParameterNamesMatchPyTorchStateDict) {
  NiN model;
  const auto params = model->named_parameters();
  EXPECT_TRUE(params.contains("net.0.0.weight"));
  EXPECT_TRUE(params.contains("net.0.4.bias"));
  EXPECT_TRUE(params.contains("net.7.4.weight"));
  EXPECT_EQ(params.size(), 24u);  // 12 convs: weight + bias
}

TEST(Model, XavierUniformBoundsOnConvWeights) {
  NiN model;
  const auto w = model->named_parameters()["net.0.0.weight"];  // fan_in 121, fan_out 96*121
  const double bound = std::sqrt(6.0 / (121.0 + 96.0 * 121.0));
  EXPECT_LE(w.abs().max().item<double>(), bound + 1e-7);
  EXPECT_GT(w.abs().max().item<double>(), 0.9 * bound);
}

TEST(Model, MinimumInputIs67) {
  EXPECT_EQ(nin::model::min_input_size(), 67);
  NiN model;
  EXPECT_NO_THROW(model->forward(torch::zeros({1, 1, 67, 67})));
  EXPECT_ANY_THROW(model->forward(torch::zeros({1, 1, 66, 66})));
}

// At init the signal reaching the last conv is ~0.02, so its bias alone decides whether a
// class channel's ReLU is open: a bias of -0.3 (within PyTorch's default, +-1/sqrt(10))
// shuts the channel for every image, and no gradient ever reaches it.
TEST(Model, ClassBiasDecidesWhichClassChannelsStartOpen) {
  torch::manual_seed(0);
  const auto images = torch::randn({64, 1, 67, 67});  // normalised inputs
  NiN open_model;
  open_model->eval();
  EXPECT_TRUE(open_model->named_parameters()["net.7.4.bias"].eq(1.0).all().item<bool>());
  EXPECT_TRUE(open_model->forward(images).gt(0).all().item<bool>()) << "a class channel starts shut";

  NiN shut_model(NiNOptions{1, 10, 0.5, -0.3});
  shut_model->eval();
  EXPECT_TRUE(shut_model->forward(images).eq(0).all().item<bool>());
}
