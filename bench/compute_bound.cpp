// The compute-bound limit of one rank: forward, backward and SGD step of the project's NiN
// on an in-memory batch, with no data loading and no communication, on LibTorch directly.
//
// Usage: bench_compute_bound [--batch 64] [--resize 96] [--threads 1] [--warmup 3] [--steps 20]
//                            [--grads none|zero]
// Prints one JSON line; exits 1 when a check fails (non-finite loss, parameters that did
// not move, a parameter without a gradient).
#include <malloc.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <vector>

#include <time.h>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>
#include <torch/version.h>

#include "model/nin.h"

namespace F = torch::nn::functional;
namespace po = boost::program_options;

namespace {

constexpr int64_t kSourcePixels = 28;  // FashionMNIST images are 28x28
constexpr int64_t kClasses = 10;

// A batch as nin-dist's make_batch builds it: uint8 pixels scaled to [0, 1], resized bilinearly.
torch::Tensor synthetic_batch(int64_t batch, int64_t resize) {
  auto pixels = torch::randint(0, 256, {batch, 1, kSourcePixels, kSourcePixels}, torch::kUInt8);
  auto x = pixels.to(torch::kFloat32).div_(255.0);
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{resize, resize})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

double sum_of_parameters(nin::model::NiN& model) {
  torch::NoGradGuard no_grad;
  double s = 0;
  for (const auto& p : model->parameters()) s += p.to(torch::kDouble).sum().item<double>();
  return s;
}

// CPU seconds of this process: on a shared machine, a second figure beside the wall clock.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  // The same heap settings as nin-dist's main: without them page faults, not arithmetic,
  // set the pace, and the "limit" would sit below what nin-dist reaches.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int64_t batch = 64, resize = 96, threads = 1, warmup = 3, steps = 20;
  double lr = 0.05, dropout = 0.5;
  std::string grads = "none";
  po::options_description opts("bench_compute_bound");
  opts.add_options()("help,h", "show this help")
      ("batch", po::value(&batch)->default_value(batch), "images per step (one rank's share)")
      ("resize", po::value(&resize)->default_value(resize), "input height and width, pixels")
      ("threads", po::value(&threads)->default_value(threads), "intra-op threads")
      ("warmup", po::value(&warmup)->default_value(warmup), "untimed steps first")
      ("steps", po::value(&steps)->default_value(steps), "timed steps")
      ("lr", po::value(&lr)->default_value(lr), "SGD learning rate")
      ("dropout", po::value(&dropout)->default_value(dropout), "before the last NiN block")
      ("grads", po::value(&grads)->default_value(grads),
       "between steps: none (drop the gradients, as PyTorch's set_to_none) or zero (zero-fill "
       "them, as LibTorch 1.13's Optimizer::zero_grad)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bench_compute_bound: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (batch < 1 || steps < 1 || warmup < 0 || threads < 1 || resize < nin::model::min_input_size() ||
      (grads != "none" && grads != "zero")) {
    std::cerr << "bench_compute_bound: need batch, steps, threads >= 1, warmup >= 0, resize >= "
              << nin::model::min_input_size() << " and --grads none or zero\n";
    return 2;
  }

  torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(42);
  nin::model::NiN model(nin::model::NiNOptions{1, kClasses, dropout});
  model->train();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(lr));
  const auto x = synthetic_batch(batch, resize);
  const auto y = torch::randint(0, kClasses, {batch}, torch::kInt64);

  std::vector<double> losses, step_s;
  auto step = [&] {
    if (grads == "zero") {
      opt.zero_grad();
    } else {  // backward then hands its gradient buffers over instead of adding into zeros
      for (auto& p : model->parameters()) p.mutable_grad().reset();
    }
    auto loss = F::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());  // a sync point, as nin-dist's per-step loss
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  const double params_before = sum_of_parameters(model);
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    step_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_s = cpu_seconds() - cpu_start;

  std::vector<std::string> failures;
  if (!std::all_of(losses.begin(), losses.end(), [](double v) { return std::isfinite(v); }))
    failures.push_back("non-finite loss");
  for (const auto& p : model->named_parameters())
    if (!p.value().grad().defined()) failures.push_back("no gradient for " + p.key());
  const double params_after = sum_of_parameters(model);
  if (!(std::isfinite(params_after) && params_after != params_before))
    failures.push_back("SGD did not move the parameters");

  auto sorted = step_s;
  std::sort(sorted.begin(), sorted.end());
  nlohmann::json out = {{"bench", "compute_bound"}, {"impl", "libtorch"}, {"torch", TORCH_VERSION},
                        {"batch", batch}, {"resize", resize}, {"threads", torch::get_num_threads()},
                        {"grads", grads}, {"warmup_steps", warmup}, {"steps", steps}, {"elapsed_s", elapsed},
                        {"images_per_s", double(batch) * steps / elapsed},
                        {"cpu_s", cpu_s}, {"images_per_cpu_s", double(batch) * steps / cpu_s},
                        {"step_s_median", sorted[sorted.size() / 2]}, {"step_s_min", sorted.front()},
                        {"loss_first", losses.front()}, {"loss_last", losses.back()}};
  std::string verdict = "ok";
  if (!failures.empty()) {
    verdict.clear();
    for (const auto& f : failures) verdict += (verdict.empty() ? "" : "; ") + f;
  }
  out["checks"] = verdict;
  std::cout << out.dump() << std::endl;
  if (!failures.empty()) {
    std::cerr << "bench_compute_bound: FAILED: " << verdict << std::endl;
    return 1;
  }
  return 0;
}
