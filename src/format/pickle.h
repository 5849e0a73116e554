// Pickle as torch.save writes it (protocol 2): the opcodes, a writer, and the storage classes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>

namespace nin::format {

// The pickle opcodes (Python's Lib/pickle.py names) of protocols 2 to 4 that torch.save uses.
namespace pickle_op {
constexpr uint8_t kProto = 0x80, kFrame = 0x95, kStop = '.', kMark = '(', kTuple = 't', kTuple1 = 0x85,
                  kTuple2 = 0x86, kTuple3 = 0x87, kEmptyTuple = ')', kEmptyList = ']', kAppend = 'a',
                  kAppends = 'e', kEmptyDict = '}', kSetItem = 's', kSetItems = 'u', kNone = 'N',
                  kNewTrue = 0x88, kNewFalse = 0x89, kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M',
                  kLong1 = 0x8a, kBinFloat = 'G', kBinUnicode = 'X', kShortBinUnicode = 0x8c, kBinPut = 'q',
                  kLongBinPut = 'r', kMemoize = 0x94, kBinGet = 'h', kLongBinGet = 'j', kGlobal = 'c',
                  kStackGlobal = 0x93, kReduce = 'R', kNewObj = 0x81, kBinPersId = 'Q', kBuild = 'b';
}  // namespace pickle_op

// Appends pickle opcodes and their arguments (little-endian, as pickle wants).
class PickleWriter {
 public:
  void op(uint8_t code) { out_.push_back(static_cast<char>(code)); }
  void string(const std::string& s);               // BINUNICODE
  void global(const char* module, const char* name);  // GLOBAL module.name
  void integer(int64_t v);                         // the shortest of BININT1, BININT2, BININT, LONG1
  void int_tuple(c10::IntArrayRef values);
  const std::string& bytes() const { return out_; }

 private:
  void le(uint64_t v, int n);  // the low `n` bytes of `v`
  std::string out_;
};

// The storage class torch.save names for `dtype` ("FloatStorage", ...); std::invalid_argument
// when torch.save has none.
const char* storage_class(c10::ScalarType dtype);

// The element type of the storage class `name` as the pickle spells it ("torch.FloatStorage").
std::optional<c10::ScalarType> storage_dtype(const std::string& name);

}  // namespace nin::format
