// Gradient buckets fed by autograd hooks; a bucket's allreduce starts as soon as it fills.
#include "dist/reducer.h"

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

namespace nin::dist {

std::vector<std::vector<size_t>> plan_buckets(const std::vector<int64_t>& param_bytes,
                                              int64_t cap_bytes, int64_t first_cap_bytes) {
  if (cap_bytes <= 0 || first_cap_bytes <= 0) {
    throw std::invalid_argument("plan_buckets: caps must be positive, got " +
                                std::to_string(cap_bytes) + " and " +
                                std::to_string(first_cap_bytes) + " bytes");
  }
  std::vector<std::vector<size_t>> plan;
  std::vector<size_t> current;
  int64_t current_bytes = 0;
  const auto cap = [&] { return plan.empty() ? first_cap_bytes : cap_bytes; };
  for (size_t i = param_bytes.size(); i-- > 0;) {  // backward produces the last ones first
    if (param_bytes[i] < 0) throw std::invalid_argument("plan_buckets: negative size");
    if (!current.empty() && current_bytes + param_bytes[i] > cap()) {
      plan.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += param_bytes[i];
    if (current_bytes >= cap()) {  // full, or one parameter larger than the cap
      plan.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
  }
  if (!current.empty()) plan.push_back(std::move(current));
  return plan;
}

// Runs after AccumulateGrad wrote a parameter's gradient into its bucket view.
class Reducer::ArrivalHook final : public torch::autograd::FunctionPostHook {
 public:
  ArrivalHook(State* state, size_t index) : state_(state), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override;

 private:
  State* state_;  // outlives the hook: ~Reducer removes the hooks first
  size_t index_;
};

struct Reducer::State {
  struct Param {
    torch::Tensor tensor;
    torch::Tensor view;  // its slice of the bucket, with the parameter's sizes and strides
    size_t bucket = 0;
    std::shared_ptr<torch::autograd::Node> accumulator;  // held: autograd keeps only a weak one
    uintptr_t hook = 0;
    bool ready = false;  // its gradient arrived in this backward
  };
  struct Bucket {
    torch::Tensor flat;           // one contiguous buffer: one allreduce per bucket
    std::vector<size_t> params;   // indices into State::params
    size_t ready = 0;             // params whose gradient arrived in this backward
    std::unique_ptr<Work> work;   // set from launch until finalize
    bool done = false;            // its allreduce was seen complete in this backward
  };

  explicit State(Communicator& c) : comm(c) {}

  void on_grad(size_t index);
  void launch_full_buckets();  // alone: marks them complete, nothing launched

  Communicator& comm;
  std::vector<Param> params;
  std::vector<Bucket> buckets;
  size_t next_launch = 0;     // buckets start in index order, so in the same order on every rank
  bool sync = false;          // this backward reduces
  bool sync_pending = false;  // prepare(true) seen, finalize() not yet
  bool nudge = false;         // host collectives (MPI) progress only inside library calls
  bool alone = false;         // a world of one: the average is the gradient itself, no collective
  BucketObserver* observer = nullptr;
};

torch::autograd::variable_list Reducer::ArrivalHook::operator()(const torch::autograd::variable_list& outputs,
                                                                const torch::autograd::variable_list& /*inputs*/) {
  state_->on_grad(index_);
  return outputs;
}

void Reducer::State::on_grad(size_t index) {
  Param& param = params[index];
  if (param.ready) {  // its bucket may be on the wire already: never write it twice
    throw std::logic_error("Reducer: parameter " + std::to_string(index) +
                           " got a second gradient in one backward; call prepare() before each "
                           "backward");
  }
  param.ready = true;
  ++buckets[param.bucket].ready;
  if (sync) launch_full_buckets();
  // OpenMPI progresses only inside MPI calls: nudge the oldest unfinished allreduce. Not on
  // a GPU, where the host must not query a stream that a graph may be capturing.
  for (size_t b = 0; nudge && b < next_launch; ++b) {
    if (buckets[b].done) continue;
    if (!buckets[b].work->test()) break;
    buckets[b].done = true;  // the first test that says so: the completion a trace shows
    if (observer) observer->completed(b);
  }
}

void Reducer::State::launch_full_buckets() {
  for (; next_launch < buckets.size() && buckets[next_launch].ready == buckets[next_launch].params.size();
       ++next_launch) {
    if (alone) continue;  // its average is itself: nothing to launch, copy or wait for
    Bucket& bucket = buckets[next_launch];
    if (observer) observer->launched(next_launch, bucket.flat.numel() * int64_t(bucket.flat.element_size()));
    bucket.work = comm.allreduce_async(bucket.flat, ReduceOp::kAvg);
    bucket.done = false;
  }
}

namespace {

// The bucket slice as the parameter lays out its elements: dense tensors (contiguous or
// channels-last) keep their strides, so autograd adds into it with no permuting copy and
// the optimizer reads gradient and parameter alike.
torch::Tensor view_like(const torch::Tensor& flat, int64_t offset, const torch::Tensor& param) {
  const auto slice = flat.narrow(0, offset, param.numel());
  if (param.is_non_overlapping_and_dense()) return slice.as_strided(param.sizes(), param.strides());
  return slice.view(param.sizes());
}

}  // namespace

Reducer::Reducer(std::vector<torch::Tensor> params, Communicator& comm, int64_t cap_bytes,
                 int64_t first_cap_bytes)
    : state_(std::make_unique<State>(comm)) {
  std::vector<int64_t> bytes;
  for (size_t i = 0; i < params.size(); ++i) {
    const torch::Tensor& p = params[i];
    if (!p.defined() || !p.requires_grad() || !p.is_leaf()) {
      throw std::invalid_argument("Reducer: parameter " + std::to_string(i) +
                                  " must be a defined leaf tensor that requires grad");
    }
    bytes.push_back(p.numel() * static_cast<int64_t>(p.element_size()));
    state_->params.emplace_back();
    state_->params.back().tensor = p;
    state_->nudge = state_->nudge || p.device().is_cpu();
  }

  state_->alone = comm.size() == 1;
  state_->nudge = state_->nudge && !state_->alone;  // nothing in flight to nudge

  // A bucket is one tensor, so a planned bucket splits where dtype or device changes.
  auto& buckets = state_->buckets;
  for (const auto& planned : plan_buckets(bytes, cap_bytes, first_cap_bytes)) {
    buckets.emplace_back();
    for (size_t i : planned) {
      if (!buckets.back().params.empty()) {
        const torch::Tensor& head = params[buckets.back().params.front()];
        if (head.scalar_type() != params[i].scalar_type() || head.device() != params[i].device()) {
          buckets.emplace_back();
        }
      }
      buckets.back().params.push_back(i);
    }
  }

  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < state_->buckets.size(); ++b) {
    State::Bucket& bucket = state_->buckets[b];
    int64_t numel = 0;
    for (size_t i : bucket.params) numel += params[i].numel();
    bucket.flat = torch::zeros({numel}, params[bucket.params.front()].options());
    int64_t offset = 0;
    for (size_t i : bucket.params) {
      State::Param& param = state_->params[i];
      // detach(): a plain alias, not an autograd view, so optimizers may detach_() the grad.
      param.view = view_like(bucket.flat, offset, param.tensor).detach();
      param.bucket = b;
      offset += param.tensor.numel();
    }
  }

  for (size_t i = 0; i < state_->params.size(); ++i) {
    State::Param& param = state_->params[i];
    param.tensor.mutable_grad() = param.view;
    param.accumulator = torch::autograd::impl::grad_accumulator(param.tensor);
    param.hook = param.accumulator->add_post_hook(std::make_unique<ArrivalHook>(state_.get(), i));
  }
}

Reducer::~Reducer() {
  for (auto& param : state_->params) param.accumulator->del_post_hook(param.hook);
}

void Reducer::prepare(bool sync) {
  State& s = *state_;
  for (const auto& bucket : s.buckets) {
    if (bucket.work) {
      throw std::logic_error("Reducer::prepare: finalize() was not called after the last "
                             "synchronised backward");
    }
  }
  for (auto& param : s.params) {
    param.ready = false;
    // Someone replaced the gradient (zero_grad(set_to_none), as 2.x's optimizers do): autograd
    // would write elsewhere and the bucket would miss it. Back to the view, zeroed as a
    // fresh gradient starts. A host-side pointer check, no sync.
    if (!param.tensor.grad().is_same(param.view)) {
      torch::NoGradGuard no_grad;
      param.view.zero_();
      param.tensor.mutable_grad() = param.view;
    }
  }
  for (auto& bucket : s.buckets) bucket.ready = 0;
  s.next_launch = 0;
  s.sync = sync;
  s.sync_pending = sync;
}

void Reducer::finalize() {
  State& s = *state_;
  if (!s.sync_pending) return;  // after prepare(false) gradients stay in the buckets
  s.launch_full_buckets();
  if (s.next_launch < s.buckets.size()) {
    for (size_t i : s.buckets[s.next_launch].params) {
      if (s.params[i].ready) continue;
      std::ostringstream msg;
      msg << "Reducer: parameter " << i << " (shape " << s.params[i].tensor.sizes()
          << ") got no gradient in this synchronised backward; every parameter must take part in "
             "the loss";
      throw std::runtime_error(msg.str());
    }
  }
  s.sync_pending = false;
  if (s.alone) return;  // nothing in flight: no copy, no kernel, no wait
  const auto start = std::chrono::steady_clock::now();
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    s.buckets[b].work->wait();
    if (s.observer && !s.buckets[b].done) s.observer->completed(b);  // as observed: when its wait returned
  }
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& bucket : s.buckets) bucket.work.reset();
}

void Reducer::zero_grad() {
  State& s = *state_;
  for (const auto& bucket : s.buckets) {
    if (bucket.work) throw std::logic_error("Reducer::zero_grad: an allreduce is still in flight");
  }
  torch::NoGradGuard no_grad;
  for (auto& bucket : s.buckets) bucket.flat.zero_();
}

void Reducer::observe(BucketObserver* observer) { state_->observer = observer; }

size_t Reducer::num_buckets() const { return state_->buckets.size(); }

std::vector<torch::Tensor> Reducer::buckets() const {
  std::vector<torch::Tensor> flat;
  for (const auto& bucket : state_->buckets) flat.push_back(bucket.flat);
  return flat;
}

}  // namespace nin::dist
