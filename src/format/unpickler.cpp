#include "format/unpickler.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

#include <torch/types.h>

#include "format/pickle.h"

namespace nin::format {
using namespace pickle_op;
namespace {

using Kind = PyValue::Kind;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

PyValuePtr make(Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  return v;
}
PyValuePtr integer(Kind kind, int64_t v) {
  auto out = make(kind);
  out->integer = v;
  return out;
}
PyValuePtr text(Kind kind, std::string s) {  // kString, kGlobal
  auto out = make(kind);
  out->text = std::move(s);
  return out;
}
// Whether `target` is `from` or lies inside it (the memo lets a pickle share values).
bool reaches(const PyValue& from, const PyValue* target) {
  std::vector<const PyValue*> todo = {&from};
  std::unordered_set<const PyValue*> seen;
  while (!todo.empty()) {
    const PyValue* v = todo.back();
    todo.pop_back();
    if (v == target) return true;
    if (!seen.insert(v).second) continue;
    for (const auto& item : v->items) todo.push_back(item.get());
    for (const auto& [k, value] : v->entries) todo.push_back(k.get()), todo.push_back(value.get());
  }
  return false;
}

// `container` now holds `item`: one level deeper than it, within kMaxPickleDepth, and never
// itself (a cycle through the memo would never be freed). Depth falls along every edge so far,
// so only an item at least as deep as the container can hold it.
void nest(PyValue& container, const PyValuePtr& item) {
  if (item->depth >= container.depth && reaches(*item, &container))
    fail("malformed pickle (a container holds itself)");
  container.depth = std::max(container.depth, item->depth + 1);
  if (container.depth > kMaxPickleDepth)
    fail("malformed pickle (nested deeper than " + std::to_string(kMaxPickleDepth) + " levels)");
}
PyValuePtr tuple(std::vector<PyValuePtr> items) {
  auto out = make(Kind::kTuple);
  for (const auto& item : items) nest(*out, item);
  out->items = std::move(items);
  return out;
}

// Argument `i` of a call, which must be of `kind`.
const PyValue& arg(const PyValue& args, size_t i, Kind kind, const std::string& what) {
  if (args.kind != Kind::kTuple || i >= args.items.size() || args.items[i]->kind != kind) fail("malformed " + what);
  return *args.items[i];
}
std::vector<int64_t> ints(const PyValue& tuple, const std::string& what) {
  std::vector<int64_t> out;
  for (const auto& v : tuple.items) {
    if (v->kind != Kind::kInt) fail("malformed " + what);
    out.push_back(v->integer);
  }
  return out;
}

// _rebuild_tensor_v2(storage, offset, size, stride, ...) -> a view of the storage, after
// checking that every element lies inside it.
PyValuePtr rebuild_tensor(const PyValue& args) {
  const std::string what = "tensor";
  const torch::Tensor& storage = arg(args, 0, Kind::kStorage, what).tensor;
  const int64_t offset = arg(args, 1, Kind::kInt, what).integer;
  const auto sizes = ints(arg(args, 2, Kind::kTuple, what), what);
  const auto strides = ints(arg(args, 3, Kind::kTuple, what), what);
  if (sizes.size() != strides.size() || offset < 0) fail("malformed tensor (sizes, strides, offset)");
  // No view with more elements than its storage (a stride of 0 would repeat one element
  // 2^33 times, and the contiguous copy made of it would take 32 GiB).
  int64_t elements = 1;
  for (const int64_t s : sizes) {
    if (s < 0) fail("malformed tensor (negative size or stride)");
    if (s > 0 && elements > storage.numel() / s) fail("tensor has more elements than its storage");
    elements *= s;
  }
  // Every element must lie inside the storage: offset + sum((size - 1) * stride) < numel.
  const int64_t limit = storage.numel() - 1;
  int64_t last = offset;
  bool empty = false;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || strides[d] < 0) fail("malformed tensor (negative size or stride)");
    if (sizes[d] == 0) empty = true;
    if (sizes[d] > 1 && strides[d] > 0) {
      if (last > limit || (sizes[d] - 1) > (limit - last) / strides[d]) fail("tensor reaches outside its storage");
      last += (sizes[d] - 1) * strides[d];
    }
  }
  if (!empty && last > limit) fail("tensor reaches outside its storage");
  auto out = make(Kind::kTensor);
  out->tensor = empty ? torch::empty(sizes, storage.options()) : storage.as_strided(sizes, strides, offset);
  return out;
}

// The only calls honoured: those that rebuild a state dict's containers and tensors.
PyValuePtr reduce(const PyValue& callable, const PyValue& args) {
  if (callable.kind != Kind::kGlobal || args.kind != Kind::kTuple)
    fail("malformed pickle (call of " + describe(callable) + ")");
  const std::string& f = callable.text;
  const auto first_arg = [&] {
    if (args.items.empty()) fail("malformed call of " + f);
    return args.items[0];
  };
  if (f == "collections.OrderedDict" && args.items.empty()) return make(Kind::kDict);
  if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") return rebuild_tensor(args);
  if (f == "torch._utils._rebuild_parameter") return first_arg();   // torch.save(model.state_dict(keep_vars=True))
  if (f == "torch.jit._pickle.restore_type_tag") return first_arg();  // torch::pickle_save's typed containers
  fail("holds the Python object " + f + ", not a dict of tensors");
}

// Runs the pickle machine over `data`; tensors' bytes come from `load_storage`.
class Unpickler {
 public:
  Unpickler(const std::string& data, const StorageLoader& load_storage) : data_(data), load_storage_(load_storage) {}

  PyValuePtr run() {
    for (;;) {
      const uint8_t code = byte();
      if (code == kStop) {
        if (stack_.size() != 1 || !marks_.empty()) fail("malformed pickle (unbalanced stack at STOP)");
        return stack_.back();
      }
      if (!container_op(code) && !scalar_op(code) && !object_op(code)) {
        std::ostringstream msg;
        msg << "unsupported pickle opcode 0x" << std::hex << int{code} << " at byte " << std::dec << pos_ - 1;
        fail(msg.str());
      }
    }
  }

 private:
  // Tuples, lists and dicts; false when `code` is none of theirs.
  bool container_op(uint8_t code) {
    switch (code) {
      case kMark: marks_.push_back(stack_.size()); break;
      case kEmptyTuple: push(make(Kind::kTuple)); break;
      case kTuple: push(tuple(pop_mark())); break;
      case kTuple1:
      case kTuple2:
      case kTuple3: push(tuple(pop_n(code - kTuple1 + 1))); break;
      case kEmptyList: push(make(Kind::kList)); break;
      case kAppend: {
        auto v = pop();
        nest(top(Kind::kList), v);
        top(Kind::kList).items.push_back(v);
        break;
      }
      case kAppends: {
        auto items = pop_mark();
        for (const auto& item : items) nest(top(Kind::kList), item);
        auto& list = top(Kind::kList).items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case kEmptyDict: push(make(Kind::kDict)); break;
      case kSetItem: {
        auto v = pop();
        auto k = pop();
        nest(top(Kind::kDict), k), nest(top(Kind::kDict), v);
        top(Kind::kDict).entries.emplace_back(k, v);
        break;
      }
      case kSetItems: {
        auto items = pop_mark();
        if (items.size() % 2) fail("malformed pickle (odd SETITEMS)");
        for (const auto& item : items) nest(top(Kind::kDict), item);
        auto& dict = top(Kind::kDict).entries;
        for (size_t i = 0; i < items.size(); i += 2) dict.emplace_back(items[i], items[i + 1]);
        break;
      }
      default: return false;
    }
    return true;
  }

  // Framing, None, bools, numbers and strings; false when `code` is none of theirs.
  bool scalar_op(uint8_t code) {
    switch (code) {
      case kProto: byte(); break;
      case kFrame: le(8); break;
      case kNone: push(make(Kind::kNone)); break;
      case kNewTrue:
      case kNewFalse: push(integer(Kind::kBool, code == kNewTrue)); break;
      case kBinInt: push(integer(Kind::kInt, static_cast<int32_t>(le(4)))); break;
      case kBinInt1: push(integer(Kind::kInt, static_cast<int64_t>(le(1)))); break;
      case kBinInt2: push(integer(Kind::kInt, static_cast<int64_t>(le(2)))); break;
      case kLong1: {
        const int n = byte();
        if (n > 8) fail("integer wider than 64 bits");
        uint64_t v = le(n);
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        push(integer(Kind::kInt, static_cast<int64_t>(v)));
        break;
      }
      case kBinFloat: {
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();  // big-endian
        auto v = make(Kind::kFloat);
        std::memcpy(&v->real, &bits, sizeof bits);
        push(v);
        break;
      }
      case kBinUnicode: push(text(Kind::kString, take(le(4)))); break;
      case kShortBinUnicode: push(text(Kind::kString, take(byte()))); break;
      default: return false;
    }
    return true;
  }

  // The memo, globals, calls and persistent ids; false when `code` is none of theirs.
  bool object_op(uint8_t code) {
    switch (code) {
      case kBinPut: memo_[le(1)] = peek(); break;
      case kLongBinPut: memo_[le(4)] = peek(); break;
      case kMemoize: memo_[memo_.size()] = peek(); break;
      case kBinGet: push(memo(le(1))); break;
      case kLongBinGet: push(memo(le(4))); break;
      case kGlobal: {
        const std::string module = line();
        push(text(Kind::kGlobal, module + "." + line()));
        break;
      }
      case kStackGlobal: {
        const auto name = pop(), module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString) fail("malformed pickle (STACK_GLOBAL)");
        push(text(Kind::kGlobal, module->text + "." + name->text));
        break;
      }
      case kReduce:
      case kNewObj: {  // f(*args), or cls.__new__(cls, *args): both go through the allow-list
        const auto args = pop(), callable = pop();
        push(reduce(*callable, *args));
        break;
      }
      case kBinPersId: push(persistent(*pop())); break;
      case kBuild: pop(); break;  // attributes, e.g. an OrderedDict's _metadata: not needed
      default: return false;
    }
    return true;
  }

  uint8_t byte() {
    if (pos_ >= data_.size()) fail("truncated pickle");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  uint64_t le(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{byte()} << (8 * i);
    return v;
  }
  std::string take(uint64_t n) {
    if (n > data_.size() - pos_) fail("truncated pickle");
    std::string s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) fail("truncated pickle");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  void push(PyValuePtr v) { stack_.push_back(std::move(v)); }
  PyValuePtr peek() const {
    if (stack_.empty()) fail("malformed pickle (empty stack)");
    return stack_.back();
  }
  PyValuePtr pop() {
    auto v = peek();
    if (!marks_.empty() && marks_.back() == stack_.size()) fail("malformed pickle (pop across a mark)");
    stack_.pop_back();
    return v;
  }
  std::vector<PyValuePtr> pop_n(size_t n) {
    if (stack_.size() < n + (marks_.empty() ? 0 : marks_.back())) fail("malformed pickle (short stack)");
    std::vector<PyValuePtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return items;
  }
  std::vector<PyValuePtr> pop_mark() {
    if (marks_.empty()) fail("malformed pickle (no mark)");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  PyValue& top(Kind kind) {
    auto v = peek();
    if (v->kind != kind) fail("malformed pickle (adding items to " + describe(*v) + ")");
    return *v;
  }
  PyValuePtr memo(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("malformed pickle (unknown memo entry)");
    return it->second;
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> the elements of data/KEY.
  PyValuePtr persistent(const PyValue& pid) {
    const std::string what = "storage reference";
    if (arg(pid, 0, Kind::kString, what).text != "storage") fail("malformed " + what);
    const std::string& type = arg(pid, 1, Kind::kGlobal, what).text;
    const std::string& key = arg(pid, 2, Kind::kString, what).text;
    const int64_t numel = arg(pid, 4, Kind::kInt, what).integer;
    const auto dtype = storage_dtype(type);
    if (!dtype) fail("unsupported storage type " + type);
    if (numel < 0) fail("malformed " + what);
    auto& storage = storages_[key];
    if (!storage) {
      storage = make(Kind::kStorage);
      storage->tensor = load_storage_(key, *dtype, numel);
    }
    if (storage->tensor.scalar_type() != *dtype || storage->tensor.numel() < numel)
      fail("storage " + key + " is used with two different types or sizes");
    return storage;
  }

  const std::string& data_;
  const StorageLoader& load_storage_;
  size_t pos_ = 0;
  std::vector<PyValuePtr> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::map<uint64_t, PyValuePtr> memo_;
  std::map<std::string, PyValuePtr> storages_;  // shared by the tensors that view them
};

}  // namespace

PyValue::~PyValue() {
  // Children this value alone holds are taken apart here, one level at a time, instead of
  // by their own destructors recursively.
  std::vector<PyValuePtr> pending;
  auto take = [&](PyValue& v) {
    for (auto& item : v.items) pending.push_back(std::move(item));
    for (auto& [k, val] : v.entries) pending.push_back(std::move(k)), pending.push_back(std::move(val));
    v.items.clear(), v.entries.clear();
  };
  take(*this);
  while (!pending.empty()) {
    PyValuePtr v = std::move(pending.back());
    pending.pop_back();
    if (v && v.use_count() == 1) take(*v);  // then freed here, with no children left
  }
}

std::string describe(const PyValue& v) {
  switch (v.kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "a bool";
    case Kind::kInt: return "an int";
    case Kind::kFloat: return "a float";
    case Kind::kString: return "a string";
    case Kind::kTuple: return "a tuple";
    case Kind::kList: return "a list";
    case Kind::kDict: return "a dict";
    case Kind::kGlobal: return "the Python object " + v.text;
    case Kind::kStorage: return "a storage";
    case Kind::kTensor: return "a tensor";
  }
  return "?";
}

PyValuePtr unpickle(const std::string& pickle, const StorageLoader& load_storage) {
  return Unpickler(pickle, load_storage).run();
}

}  // namespace nin::format
