#include "checkpoint/optim_state.h"

#include <sstream>
#include <type_traits>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "util/error.h"

namespace nin::checkpoint {
namespace {

using torch::Tensor;
std::vector<Tensor> all_params(const torch::optim::Optimizer& opt) {
  std::vector<Tensor> out;
  for (const auto& g : opt.param_groups()) out.insert(out.end(), g.params().begin(), g.params().end());
  return out;
}

std::string field(size_t i, const std::string& name) { return kOptimPrefix + std::to_string(i) + "/" + name; }

template <class State>
void save_adam(const State& s, size_t i, format::NamedTensors& out) {
  out.emplace_back(field(i, "step"), torch::tensor(s.step(), torch::kInt64).reshape({}));
  out.emplace_back(field(i, "exp_avg"), s.exp_avg());
  out.emplace_back(field(i, "exp_avg_sq"), s.exp_avg_sq());
  if (s.max_exp_avg_sq().defined()) out.emplace_back(field(i, "max_exp_avg_sq"), s.max_exp_avg_sq());
}

// Reads the fields of parameter `i`, each checked against the parameter; counts those used.
class Fields {
 public:
  Fields(const std::map<std::string, Tensor>& state, const std::string& source) : state_(state), source_(source) {}
  bool has(size_t i, const std::string& name) const { return state_.count(field(i, name)) > 0; }
  Tensor like(size_t i, const std::string& name, const Tensor& param) {
    const Tensor& t = at(i, name);
    if (t.scalar_type() != param.scalar_type() || t.sizes() != param.sizes())
      throw InputError(source_ + ": optimizer state " + field(i, name) + " is " + c10::toString(t.scalar_type()) +
                       " " + shape(t) + ", its parameter " + c10::toString(param.scalar_type()) + " " + shape(param));
    return t.to(param.device());
  }
  int64_t count(size_t i, const std::string& name) {
    const Tensor& t = at(i, name);
    if (t.scalar_type() != torch::kInt64 || t.numel() != 1)
      throw InputError(source_ + ": optimizer state " + field(i, name) + " is not an int64 scalar");
    return t.item<int64_t>();
  }
  size_t used() const { return used_; }

 private:
  static std::string shape(const Tensor& t) {
    std::ostringstream s;
    s << t.sizes();
    return s.str();
  }
  const Tensor& at(size_t i, const std::string& name) {
    const auto it = state_.find(field(i, name));
    if (it == state_.end()) throw InputError(source_ + ": optimizer state lacks " + field(i, name));
    ++used_;
    return it->second;
  }
  const std::map<std::string, Tensor>& state_;
  const std::string& source_;
  size_t used_ = 0;
};

template <class State>
std::unique_ptr<State> load_adam(Fields& f, size_t i, const Tensor& p) {
  auto s = std::make_unique<State>();
  s->step(f.count(i, "step"));
  s->exp_avg(f.like(i, "exp_avg", p));
  s->exp_avg_sq(f.like(i, "exp_avg_sq", p));
  if (f.has(i, "max_exp_avg_sq")) s->max_exp_avg_sq(f.like(i, "max_exp_avg_sq", p));
  return s;
}

}  // namespace

namespace {
template <class Key>  // a template, so that the branch the version does not take is not compiled
Key key_of(const Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;
    out << p.unsafeGetTensorImpl();
    return out.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}
}  // namespace

OptimStateKey state_key(const Tensor& p) { return key_of<OptimStateKey>(p); }

format::NamedTensors optimizer_state(const torch::optim::Optimizer& opt) {
  using namespace torch::optim;
  format::NamedTensors out;
  const auto params = all_params(opt);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto it = opt.state().find(state_key(params[i]));
    if (it == opt.state().end()) continue;
    const OptimizerParamState* s = it->second.get();
    if (const auto* sgd = dynamic_cast<const SGDParamState*>(s)) {
      if (sgd->momentum_buffer().defined()) out.emplace_back(field(i, "momentum_buffer"), sgd->momentum_buffer());
    } else if (const auto* adam = dynamic_cast<const AdamParamState*>(s)) {
      save_adam(*adam, i, out);
    } else if (const auto* adamw = dynamic_cast<const AdamWParamState*>(s)) {
      save_adam(*adamw, i, out);
    } else {
      throw std::logic_error("optimizer_state: an optimizer other than SGD, Adam or AdamW");
    }
  }
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& opt, const std::map<std::string, Tensor>& state,
                          const std::string& source) {
  using namespace torch::optim;
  const auto params = all_params(opt);
  Fields f(state, source);
  OptimStateMap loaded;  // built aside: the optimizer is untouched until every entry was checked
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    std::unique_ptr<OptimizerParamState> s;
    if (dynamic_cast<SGD*>(&opt)) {
      if (!f.has(i, "momentum_buffer")) continue;
      auto sgd = std::make_unique<SGDParamState>();
      sgd->momentum_buffer(f.like(i, "momentum_buffer", p));
      s = std::move(sgd);
    } else if (!f.has(i, "exp_avg")) {
      continue;
    } else if (dynamic_cast<AdamW*>(&opt)) {
      s = load_adam<AdamWParamState>(f, i, p);
    } else {
      s = load_adam<AdamParamState>(f, i, p);
    }
    loaded[state_key(p)] = std::move(s);
  }
  if (f.used() != state.size())
    throw InputError(source + ": " + std::to_string(state.size() - f.used()) +
                     " optimizer state entries fit no parameter of the configured optimizer");
  opt.state() = std::move(loaded);
}

}  // namespace nin::checkpoint
