// A restricted unpickler for torch.save's data.pkl: it rebuilds dicts, tuples and tensors, and executes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nin::format {

struct PyValue;
using PyValuePtr = std::shared_ptr<PyValue>;

// What the unpickler builds: the few Python types a state dict is made of.
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  int64_t integer = 0;                                     // kBool, kInt
  double real = 0;                                         // kFloat
  std::string text;                                        // kString; kGlobal: "module.name"
  std::vector<PyValuePtr> items;                           // kTuple, kList
  std::vector<std::pair<PyValuePtr, PyValuePtr>> entries;  // kDict, in insertion order
  at::Tensor tensor;                                       // kStorage (1-D), kTensor
  int depth = 0;  // containers: levels of nesting below, at most kMaxPickleDepth

  PyValue() = default;
  PyValue(const PyValue&) = delete;
  PyValue& operator=(const PyValue&) = delete;
  ~PyValue();  // iterative: freeing a deeply nested value cannot overflow the stack
};

// A state dict nests three or four levels; a pickle nesting deeper is refused.
constexpr int kMaxPickleDepth = 64;

// "a dict", "the Python object os.system", ...: for error messages.
std::string describe(const PyValue& v);

// The elements of the archive's record data/KEY: (KEY, dtype, numel) -> a 1-D tensor.
using StorageLoader = std::function<at::Tensor(const std::string&, c10::ScalarType, int64_t)>;

// The object that `pickle` holds. Only the calls that rebuild a state dict's containers and
// tensors are honoured; any other Python global is refused, so a hostile file can execute
// nothing. std::runtime_error saying what is wrong with a malformed or refused pickle.
PyValuePtr unpickle(const std::string& pickle, const StorageLoader& load_storage);

}  // namespace nin::format
