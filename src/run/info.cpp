#include "run/info.h"

#include <vector>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#include "data/fashion_mnist.h"
#include "dist/communicator.h"
#include "dist/factory.h"
#include "dist/process.h"
#include "format/atomic_file.h"
#include "rundir/paths.h"
#include "util/utc_now.h"

namespace nin::run {
namespace fs = std::filesystem;

BuildInfo build_info() {
  return {NIN_VERSION,
          std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
              std::to_string(TORCH_VERSION_PATCH),
          torch::cuda::is_available() ? "available" : "not available",
          dist::nccl_available() ? "built in" : "not built in", dist::Process::library_version()};
}

void write_run_json(const fs::path& run_dir, dist::Communicator& control, const std::string& host,
                    const std::string& device, int64_t num_nodes) {
  const auto rows = dist::allgather_strings(control, host + "\t" + device);
  if (control.rank() != 0) return;
  nlohmann::json ranks = nlohmann::json::array();
  for (int64_t k = 0; k < control.size(); ++k) {
    const std::string& row = rows[size_t(k)];
    const auto tab = row.find('\t');
    const std::string device = tab == std::string::npos ? "" : row.substr(tab + 1);
    ranks.push_back({{"rank", k}, {"host", row.substr(0, tab)}, {"device", device}});
  }
  const BuildInfo b = build_info();
  const nlohmann::json info = {
      {"world_size", control.size()}, {"nodes", num_nodes}, {"started", util::utc_now("%Y-%m-%dT%H:%M:%SZ")}, {"ranks", ranks},
      {"build",
       {{"nin-dist", b.version}, {"LibTorch", b.libtorch}, {"CUDA", b.cuda}, {"NCCL", b.nccl}, {"MPI", b.mpi}}}};
  format::write_atomically(run_dir / rundir::kRunInfo, {info.dump(2), "\n"}, "run facts");
}

void write_confusion(const fs::path& run_dir, int64_t epoch, const std::string& split, const torch::Tensor& confusion) {
  const auto m = confusion.to(torch::kCPU).to(torch::kInt64).contiguous();
  const int64_t classes = m.size(0);
  nlohmann::json names = nlohmann::json::array(), matrix = nlohmann::json::array();
  const auto a = m.accessor<int64_t, 2>();
  for (int64_t t = 0; t < classes; ++t) {
    const std::string name = data::class_name(t, classes);
    names.push_back(name.empty() ? "class " + std::to_string(t) : name);
    std::vector<int64_t> row(a[t].data(), a[t].data() + classes);
    matrix.push_back(row);
  }
  const nlohmann::json j = {{"epoch", epoch}, {"split", split}, {"classes", names}, {"matrix", matrix}};
  format::write_atomically(run_dir / rundir::kConfusion, {j.dump(), "\n"}, "confusion matrix");
}

}  // namespace nin::run
