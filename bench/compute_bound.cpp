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
#include <optional>
#include <string>
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

struct Options {
  int64_t batch = 64, resize = 96, threads = 1, warmup = 3, steps = 20;
  double lr = 0.05, dropout = 0.5;
  std::string grads = "none";
};

// The command line into `o`; an exit code when the run ends here (--help, a bad flag).
std::optional<int> parse_options(int argc, char** argv, Options& o) {
  po::options_description opts("bench_compute_bound");
  opts.add_options()("help,h", "show this help")
      ("batch", po::value(&o.batch)->default_value(o.batch), "images per step (one rank's share)")
      ("resize", po::value(&o.resize)->default_value(o.resize), "input height and width, pixels")
      ("threads", po::value(&o.threads)->default_value(o.threads), "intra-op threads")
      ("warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed steps first")
      ("steps", po::value(&o.steps)->default_value(o.steps), "timed steps")
      ("lr", po::value(&o.lr)->default_value(o.lr), "SGD learning rate")
      ("dropout", po::value(&o.dropout)->default_value(o.dropout), "before the last NiN block")
      ("grads", po::value(&o.grads)->default_value(o.grads),
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
  if (o.batch < 1 || o.steps < 1 || o.warmup < 0 || o.threads < 1 || o.resize < nin::model::min_input_size() ||
      (o.grads != "none" && o.grads != "zero")) {
    std::cerr << "bench_compute_bound: need batch, steps, threads >= 1, warmup >= 0, resize >= "
              << nin::model::min_input_size() << " and --grads none or zero\n";
    return 2;
  }
  return std::nullopt;
}

// What the timed steps leave: every step's loss (warm-up included) and seconds, and the checks.
struct Timing {
  std::vector<double> losses, step_s;
  double elapsed = 0, cpu_s = 0;  // seconds of the timed steps: wall clock, this process's CPU
  std::vector<std::string> failures;
};

// The warm-up steps, then the timed ones, then the checks: finite losses, a gradient for every
// parameter, parameters that moved.
Timing run_steps(nin::model::NiN& model, const Options& o) {
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(o.lr));
  const auto x = synthetic_batch(o.batch, o.resize);
  const auto y = torch::randint(0, kClasses, {o.batch}, torch::kInt64);
  Timing t;
  auto step = [&] {
    if (o.grads == "zero") {
      opt.zero_grad();
    } else {  // backward then hands its gradient buffers over instead of adding into zeros
      for (auto& p : model->parameters()) p.mutable_grad().reset();
    }
    auto loss = F::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    t.losses.push_back(loss.item<double>());  // a sync point, as nin-dist's per-step loss
  };
  for (int64_t i = 0; i < o.warmup; ++i) step();
  const double params_before = sum_of_parameters(model);
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    t.step_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  t.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.cpu_s = cpu_seconds() - cpu_start;

  if (!std::all_of(t.losses.begin(), t.losses.end(), [](double v) { return std::isfinite(v); }))
    t.failures.push_back("non-finite loss");
  for (const auto& p : model->named_parameters())
    if (!p.value().grad().defined()) t.failures.push_back("no gradient for " + p.key());
  const double params_after = sum_of_parameters(model);
  if (!(std::isfinite(params_after) && params_after != params_before))
    t.failures.push_back("SGD did not move the parameters");
  return t;
}

// The JSON line: the settings, the figures, and "checks": "ok" or the failures.
nlohmann::json result(const Options& o, const Timing& t) {
  auto sorted = t.step_s;
  std::sort(sorted.begin(), sorted.end());
  nlohmann::json out = {{"bench", "compute_bound"}, {"impl", "libtorch"}, {"torch", TORCH_VERSION},
                        {"batch", o.batch}, {"resize", o.resize}, {"threads", torch::get_num_threads()},
                        {"grads", o.grads}, {"warmup_steps", o.warmup}, {"steps", o.steps},
                        {"elapsed_s", t.elapsed}, {"images_per_s", double(o.batch) * o.steps / t.elapsed},
                        {"cpu_s", t.cpu_s}, {"images_per_cpu_s", double(o.batch) * o.steps / t.cpu_s},
                        {"step_s_median", sorted[sorted.size() / 2]}, {"step_s_min", sorted.front()},
                        {"loss_first", t.losses.front()}, {"loss_last", t.losses.back()}};
  std::string verdict = "ok";
  if (!t.failures.empty()) {
    verdict.clear();
    for (const auto& f : t.failures) verdict += (verdict.empty() ? "" : "; ") + f;
  }
  out["checks"] = verdict;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // The same heap settings as nin-dist's main: without them page faults, not arithmetic,
  // set the pace, and the "limit" would sit below what nin-dist reaches.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  Options o;
  if (const auto code = parse_options(argc, argv, o)) return *code;

  torch::set_num_threads(static_cast<int>(o.threads));
  torch::manual_seed(42);
  nin::model::NiN model(nin::model::NiNOptions{1, kClasses, o.dropout});
  model->train();
  const Timing t = run_steps(model, o);
  const nlohmann::json out = result(o, t);
  std::cout << out.dump() << std::endl;
  if (!t.failures.empty()) {
    std::cerr << "bench_compute_bound: FAILED: " << out["checks"].get<std::string>() << std::endl;
    return 1;
  }
  return 0;
}
