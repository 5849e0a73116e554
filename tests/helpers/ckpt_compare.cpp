// Test tool: compares the tensors of two checkpoints; exit 0 when every one matches.
// Usage: ckpt_compare A.nin B.nin [TOLERANCE]   (default 0: bitwise)
#include <cstdlib>
#include <iostream>

#include "checkpoint/checkpoint.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: ckpt_compare A B [TOLERANCE]\n";
    return 2;
  }
  const double tol = argc > 3 ? std::atof(argv[3]) : 0.0;
  const auto a = nin::checkpoint::checkpoint_tensors(nin::checkpoint::read_checkpoint(argv[1]));
  const auto b = nin::checkpoint::checkpoint_tensors(nin::checkpoint::read_checkpoint(argv[2]));
  if (a.size() != b.size()) {
    std::cerr << "different tensor counts: " << a.size() << " vs " << b.size() << "\n";
    return 1;
  }
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second.sizes() != b[i].second.sizes()) {
      std::cerr << "tensor " << i << " differs in name or shape: " << a[i].first << " vs " << b[i].first << "\n";
      return 1;
    }
    const double diff = (a[i].second.to(torch::kDouble) - b[i].second.to(torch::kDouble)).abs().max().item<double>();
    const double scale = std::max(1.0, a[i].second.abs().max().item<double>());
    worst = std::max(worst, diff / scale);
  }
  std::cout << "max relative difference " << worst << " (tolerance " << tol << ")\n";
  return worst <= tol ? 0 : 1;
}
