#include "train/interop.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>

#include "util/error.h"

namespace nin::train {
namespace fs = std::filesystem;
namespace {

// Ends every load error: the two forms of torch.save that load_state_dict reads.
constexpr const char* kResaveHint =
    " -- in Python, save the weights with torch.save(model.state_dict(), path) "
    "or torch.save(dict(model.state_dict()), path) (PyTorch >= 1.6, default zip format)";

// The storage classes torch.save names in its pickle, by element type.
constexpr std::pair<const char*, torch::ScalarType> kStorageTypes[] = {
    {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
    {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64}, {"IntStorage", torch::kInt32},
    {"ShortStorage", torch::kInt16}, {"CharStorage", torch::kInt8}, {"ByteStorage", torch::kUInt8},
    {"BoolStorage", torch::kBool}};

// The pickle opcodes (Python's Lib/pickle.py names) of protocols 2 to 4 that torch.save uses.
constexpr uint8_t kProto = 0x80, kFrame = 0x95, kStop = '.', kMark = '(', kTuple = 't', kTuple1 = 0x85,
                  kTuple3 = 0x87, kEmptyTuple = ')', kEmptyList = ']', kAppend = 'a', kAppends = 'e',
                  kEmptyDict = '}', kSetItem = 's', kSetItems = 'u', kNone = 'N', kNewTrue = 0x88,
                  kNewFalse = 0x89, kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kLong1 = 0x8a,
                  kBinFloat = 'G', kBinUnicode = 'X', kShortBinUnicode = 0x8c, kBinPut = 'q', kLongBinPut = 'r',
                  kMemoize = 0x94, kBinGet = 'h', kLongBinGet = 'j', kGlobal = 'c', kStackGlobal = 0x93,
                  kReduce = 'R', kNewObj = 0x81, kBinPersId = 'Q', kBuild = 'b';

// ---- writing ----

// Appends pickle opcodes and their arguments (little-endian, as pickle wants).
class PickleWriter {
 public:
  void op(uint8_t code) { out_.push_back(static_cast<char>(code)); }
  void string(const std::string& s) {
    op(kBinUnicode);
    le(s.size(), 4);
    out_ += s;
  }
  void global(const char* module, const char* name) {
    op(kGlobal);
    out_ += std::string(module) + "\n" + name + "\n";
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op(kBinInt1), le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      op(kBinInt2), le(static_cast<uint64_t>(v), 2);
    } else if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max()) {
      op(kBinInt), le(static_cast<uint64_t>(v), 4);
    } else {
      op(kLong1), op(8), le(static_cast<uint64_t>(v), 8);  // two's complement
    }
  }
  void int_tuple(c10::IntArrayRef values) {
    op(kMark);
    for (const int64_t v : values) integer(v);
    op(kTuple);
  }
  const std::string& bytes() const { return out_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

const char* storage_type(torch::ScalarType dtype) {
  for (const auto& [name, type] : kStorageTypes)
    if (type == dtype) return name;
  throw std::invalid_argument(std::string("save_state_dict: no torch.save storage for dtype ") + c10::toString(dtype));
}

// ---- reading ----

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// What the restricted unpickler builds: the few Python types a state dict is made of.
struct Value {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  int64_t integer = 0;                                 // kBool, kInt
  double real = 0;                                     // kFloat
  std::string text;                                    // kString; kGlobal: "module.name"
  std::vector<ValuePtr> items;                         // kTuple, kList
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // kDict, in insertion order
  torch::Tensor tensor;                                // kStorage (1-D), kTensor
};

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

std::string describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return "a bool";
    case Value::Kind::kInt: return "an int";
    case Value::Kind::kFloat: return "a float";
    case Value::Kind::kString: return "a string";
    case Value::Kind::kTuple: return "a tuple";
    case Value::Kind::kList: return "a list";
    case Value::Kind::kDict: return "a dict";
    case Value::Kind::kGlobal: return "the Python object " + v.text;
    case Value::Kind::kStorage: return "a storage";
    case Value::Kind::kTensor: return "a tensor";
  }
  return "?";
}

// Reads the pickle in data.pkl. Only calls that rebuild tensors and containers are
// honoured; any other Python global is refused, so a hostile file can execute nothing.
// Tensors' bytes come from `load_storage(key, dtype, numel)` (the archive's data/KEY).
class Unpickler {
 public:
  using StorageLoader = std::function<torch::Tensor(const std::string&, torch::ScalarType, int64_t)>;
  Unpickler(const std::string& data, StorageLoader load_storage)
      : data_(data), load_storage_(std::move(load_storage)) {}

  ValuePtr run() {
    for (;;) {
      const uint8_t code = byte();
      switch (code) {
        case kProto: byte(); break;
        case kFrame: le(8); break;
        case kStop:
          if (stack_.size() != 1 || !marks_.empty()) fail("malformed pickle (unbalanced stack at STOP)");
          return stack_.back();
        case kMark: marks_.push_back(stack_.size()); break;
        case kEmptyTuple: push(make(Value::Kind::kTuple)); break;
        case kTuple: push(tuple(pop_mark())); break;
        case kTuple1:
        case kTuple1 + 1:
        case kTuple3: push(tuple(pop_n(code - kTuple1 + 1))); break;
        case kEmptyList: push(make(Value::Kind::kList)); break;
        case kAppend: {
          auto v = pop();
          top(Value::Kind::kList).items.push_back(v);
          break;
        }
        case kAppends: {
          auto items = pop_mark();
          auto& list = top(Value::Kind::kList).items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case kEmptyDict: push(make(Value::Kind::kDict)); break;
        case kSetItem: {
          auto v = pop();
          auto k = pop();
          top(Value::Kind::kDict).entries.emplace_back(k, v);
          break;
        }
        case kSetItems: {
          auto items = pop_mark();
          if (items.size() % 2) fail("malformed pickle (odd SETITEMS)");
          auto& dict = top(Value::Kind::kDict).entries;
          for (size_t i = 0; i < items.size(); i += 2) dict.emplace_back(items[i], items[i + 1]);
          break;
        }
        case kNone: push(make(Value::Kind::kNone)); break;
        case kNewTrue:
        case kNewFalse: push(integer(Value::Kind::kBool, code == kNewTrue)); break;
        case kBinInt: push(integer(Value::Kind::kInt, static_cast<int32_t>(le(4)))); break;
        case kBinInt1: push(integer(Value::Kind::kInt, static_cast<int64_t>(le(1)))); break;
        case kBinInt2: push(integer(Value::Kind::kInt, static_cast<int64_t>(le(2)))); break;
        case kLong1: {
          const int n = byte();
          if (n > 8) fail("integer wider than 64 bits");
          uint64_t v = le(n);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push(integer(Value::Kind::kInt, static_cast<int64_t>(v)));
          break;
        }
        case kBinFloat: {
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();  // big-endian
          auto v = make(Value::Kind::kFloat);
          std::memcpy(&v->real, &bits, sizeof bits);
          push(v);
          break;
        }
        case kBinUnicode: push(string(take(le(4)))); break;
        case kShortBinUnicode: push(string(take(byte()))); break;
        case kBinPut: memo_[le(1)] = peek(); break;
        case kLongBinPut: memo_[le(4)] = peek(); break;
        case kMemoize: memo_[memo_.size()] = peek(); break;
        case kBinGet: push(memo(le(1))); break;
        case kLongBinGet: push(memo(le(4))); break;
        case kGlobal: {
          const std::string module = line();
          push(global(module + "." + line()));
          break;
        }
        case kStackGlobal: {
          const auto name = pop(), module = pop();
          if (name->kind != Value::Kind::kString || module->kind != Value::Kind::kString)
            fail("malformed pickle (STACK_GLOBAL)");
          push(global(module->text + "." + name->text));
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
        default: {
          std::ostringstream msg;
          msg << "unsupported pickle opcode 0x" << std::hex << int{code} << " at byte " << std::dec << pos_ - 1;
          fail(msg.str());
        }
      }
    }
  }

 private:
  [[noreturn]] static void fail(const std::string& what) { throw std::runtime_error(what); }

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

  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr peek() const {
    if (stack_.empty()) fail("malformed pickle (empty stack)");
    return stack_.back();
  }
  ValuePtr pop() {
    auto v = peek();
    if (!marks_.empty() && marks_.back() == stack_.size()) fail("malformed pickle (pop across a mark)");
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_n(size_t n) {
    if (stack_.size() < n + (marks_.empty() ? 0 : marks_.back())) fail("malformed pickle (short stack)");
    std::vector<ValuePtr> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return items;
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) fail("malformed pickle (no mark)");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Value& top(Value::Kind kind) {
    auto v = peek();
    if (v->kind != kind) fail("malformed pickle (adding items to " + describe(*v) + ")");
    return *v;
  }
  ValuePtr memo(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("malformed pickle (unknown memo entry)");
    return it->second;
  }

  static ValuePtr integer(Value::Kind kind, int64_t v) {
    auto out = make(kind);
    out->integer = v;
    return out;
  }
  static ValuePtr string(std::string s) {
    auto out = make(Value::Kind::kString);
    out->text = std::move(s);
    return out;
  }
  static ValuePtr global(std::string name) {
    auto out = make(Value::Kind::kGlobal);
    out->text = std::move(name);
    return out;
  }
  static ValuePtr tuple(std::vector<ValuePtr> items) {
    auto out = make(Value::Kind::kTuple);
    out->items = std::move(items);
    return out;
  }
  static const Value& arg(const Value& args, size_t i, Value::Kind kind, const std::string& what) {
    if (args.kind != Value::Kind::kTuple || i >= args.items.size() || args.items[i]->kind != kind)
      fail("malformed " + what);
    return *args.items[i];
  }
  static std::vector<int64_t> ints(const Value& tuple, const std::string& what) {
    std::vector<int64_t> out;
    for (const auto& v : tuple.items) {
      if (v->kind != Value::Kind::kInt) fail("malformed " + what);
      out.push_back(v->integer);
    }
    return out;
  }

  // The only calls honoured: those that rebuild a state dict's containers and tensors.
  ValuePtr reduce(const Value& callable, const Value& args) {
    if (callable.kind != Value::Kind::kGlobal || args.kind != Value::Kind::kTuple)
      fail("malformed pickle (call of " + describe(callable) + ")");
    const std::string& f = callable.text;
    if (f == "collections.OrderedDict" && args.items.empty()) return make(Value::Kind::kDict);
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") return rebuild_tensor(args);
    if (f == "torch._utils._rebuild_parameter")  // torch.save(model.state_dict(keep_vars=True))
      return args.items.empty() ? fail_value(f) : args.items[0];
    if (f == "torch.jit._pickle.restore_type_tag")  // torch::pickle_save's typed containers
      return args.items.empty() ? fail_value(f) : args.items[0];
    fail("holds the Python object " + f + ", not a dict of tensors");
  }
  [[noreturn]] static ValuePtr fail_value(const std::string& f) { fail("malformed call of " + f); }

  ValuePtr rebuild_tensor(const Value& args) {
    const std::string what = "tensor";
    const torch::Tensor& storage = arg(args, 0, Value::Kind::kStorage, what).tensor;
    const int64_t offset = arg(args, 1, Value::Kind::kInt, what).integer;
    const auto sizes = ints(arg(args, 2, Value::Kind::kTuple, what), what);
    const auto strides = ints(arg(args, 3, Value::Kind::kTuple, what), what);
    if (sizes.size() != strides.size() || offset < 0) fail("malformed tensor (sizes, strides, offset)");
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
    auto out = make(Value::Kind::kTensor);
    out->tensor = empty ? torch::empty(sizes, storage.options()) : storage.as_strided(sizes, strides, offset);
    return out;
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> the elements of data/KEY.
  ValuePtr persistent(const Value& pid) {
    const std::string what = "storage reference";
    if (arg(pid, 0, Value::Kind::kString, what).text != "storage") fail("malformed " + what);
    const std::string& type = arg(pid, 1, Value::Kind::kGlobal, what).text;
    const std::string& key = arg(pid, 2, Value::Kind::kString, what).text;
    const int64_t numel = arg(pid, 4, Value::Kind::kInt, what).integer;
    const auto* found = std::find_if(std::begin(kStorageTypes), std::end(kStorageTypes),
                                     [&](const auto& st) { return type == std::string("torch.") + st.first; });
    if (found == std::end(kStorageTypes)) fail("unsupported storage type " + type);
    if (numel < 0) fail("malformed " + what);
    auto& storage = storages_[key];
    if (!storage) {
      storage = make(Value::Kind::kStorage);
      storage->tensor = load_storage_(key, found->second, numel);
    }
    if (storage->tensor.scalar_type() != found->second || storage->tensor.numel() < numel)
      fail("storage " + key + " is used with two different types or sizes");
    return storage;
  }

  const std::string& data_;
  StorageLoader load_storage_;
  size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::map<uint64_t, ValuePtr> memo_;
  std::map<std::string, ValuePtr> storages_;  // shared by the tensors that view them
};

std::string record(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name) {
  auto [data, size] = reader.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

NamedTensors read_archive(const fs::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  if (reader.hasRecord("byteorder") && record(reader, "byteorder") != "little")
    throw std::runtime_error("saved on a big-endian machine");
  const std::string pickle = record(reader, "data.pkl");
  Unpickler unpickler(pickle, [&](const std::string& key, torch::ScalarType dtype, int64_t numel) {
    auto [data, size] = reader.getRecord("data/" + key);
    auto t = torch::empty({numel}, torch::dtype(dtype));
    if (size < t.nbytes())
      throw std::runtime_error("storage data/" + key + " holds " + std::to_string(size) + " bytes, expected " +
                               std::to_string(t.nbytes()));
    if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data.get(), t.nbytes());
    return t;
  });
  const ValuePtr root = unpickler.run();
  if (root->kind != Value::Kind::kDict) throw std::runtime_error("holds " + describe(*root) + ", not a dict of tensors");
  NamedTensors out;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != Value::Kind::kString) throw std::runtime_error("has a key that is not a string");
    if (value->kind != Value::Kind::kTensor)
      throw std::runtime_error("'" + key->text + "' holds " + describe(*value) + ", not a tensor");
    out.emplace_back(key->text, value->tensor.clone(torch::MemoryFormat::Contiguous));
  }
  return out;
}

}  // namespace

void save_state_dict(const fs::path& path, const NamedTensors& tensors) {
  // The pickle torch.save(dict) writes: {name: _rebuild_tensor_v2(storage, 0, size, stride,
  // False, OrderedDict())}, each storage a persistent id naming the record data/KEY.
  PickleWriter p;
  p.op(kProto), p.op(2), p.op(kEmptyDict), p.op(kMark);
  std::vector<torch::Tensor> storages;
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor t = tensor.detach().cpu().contiguous();
    p.string(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op(kMark);
    p.op(kMark), p.string("storage"), p.global("torch", storage_type(t.scalar_type()));
    p.string(std::to_string(storages.size())), p.string("cpu"), p.integer(t.numel()), p.op(kTuple);
    p.op(kBinPersId);
    p.integer(0), p.int_tuple(t.sizes()), p.int_tuple(t.strides()), p.op(kNewFalse);
    p.global("collections", "OrderedDict"), p.op(kEmptyTuple), p.op(kReduce);  // backward hooks
    p.op(kTuple), p.op(kReduce);
    storages.push_back(t);
  }
  p.op(kSetItems), p.op(kStop);

  std::string archive;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
      archive.append(static_cast<const char*>(data), n);
      return n;
    });
    writer.writeRecord("data.pkl", p.bytes().data(), p.bytes().size());
    writer.writeRecord("byteorder", "little", 6);  // as torch.save since 2.1; older readers skip it
    for (size_t i = 0; i < storages.size(); ++i)
      writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
    writer.writeEndOfFile();
  }

  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(archive.data(), static_cast<std::streamsize>(archive.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, path);
}

NamedTensors load_state_dict(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": state dict not found or not readable");
  char head[4] = {};
  in.read(head, sizeof head);
  if (in.gcount() != sizeof head || std::memcmp(head, "PK\x03\x04", sizeof head) != 0) {
    const bool legacy = in.gcount() >= 2 && static_cast<uint8_t>(head[0]) == kProto;
    throw InputError(path.string() +
                     (legacy ? ": saved in PyTorch's legacy format (_use_new_zipfile_serialization=False)"
                             : ": not a torch.save file (no zip archive)") +
                     kResaveHint);
  }
  try {
    return read_archive(path);
  } catch (const c10::Error& e) {
    throw InputError(path.string() + ": unreadable torch.save archive: " + e.what_without_backtrace() + kResaveHint);
  } catch (const std::runtime_error& e) {
    throw InputError(path.string() + ": " + e.what() + kResaveHint);
  }
}

void assign_state_dict(torch::nn::Module& model, const NamedTensors& tensors, const std::string& source) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::vector<std::string> expected;
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (auto* dict : {&params, &buffers}) {
    for (const auto& item : *dict) {
      auto it = std::find_if(tensors.begin(), tensors.end(), [&](const auto& nt) { return nt.first == item.key(); });
      if (it == tensors.end()) throw InputError(source + ": no tensor named '" + item.key() + "'");
      if (it->second.sizes() != item.value().sizes()) {
        std::ostringstream msg;
        msg << source << ": '" << item.key() << "' has shape " << it->second.sizes() << ", the model expects "
            << item.value().sizes() << " (check model.num_classes and model.in_channels)";
        throw InputError(msg.str());
      }
      copies.emplace_back(item.value(), it->second);
      expected.push_back(item.key());
    }
  }
  for (const auto& [name, t] : tensors) {
    if (std::find(expected.begin(), expected.end(), name) == expected.end())
      throw InputError(source + ": has a tensor '" + name + "' that the model lacks (" +
                       std::to_string(tensors.size()) + " tensors, the model has " +
                       std::to_string(copies.size()) + ")");
  }
  if (copies.size() != tensors.size())
    throw InputError(source + ": has " + std::to_string(tensors.size()) + " tensors, the model " +
                     std::to_string(copies.size()) + " (a name appears twice)");
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) dst.copy_(src);
}

}  // namespace nin::train
