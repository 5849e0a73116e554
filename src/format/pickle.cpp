#include "format/pickle.h"

#include <limits>
#include <stdexcept>
#include <utility>

namespace nin::format {
using namespace pickle_op;
namespace {

// The storage classes torch.save names in its pickle, by element type.
constexpr std::pair<const char*, c10::ScalarType> kStorageTypes[] = {
    {"FloatStorage", c10::kFloat}, {"DoubleStorage", c10::kDouble}, {"HalfStorage", c10::kHalf},
    {"BFloat16Storage", c10::kBFloat16}, {"LongStorage", c10::kLong}, {"IntStorage", c10::kInt},
    {"ShortStorage", c10::kShort}, {"CharStorage", c10::kChar}, {"ByteStorage", c10::kByte},
    {"BoolStorage", c10::kBool}};

}  // namespace

void PickleWriter::string(const std::string& s) {
  op(kBinUnicode);
  le(s.size(), 4);
  out_ += s;
}

void PickleWriter::global(const char* module, const char* name) {
  op(kGlobal);
  out_ += std::string(module) + "\n" + name + "\n";
}

void PickleWriter::integer(int64_t v) {
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

void PickleWriter::int_tuple(c10::IntArrayRef values) {
  op(kMark);
  for (const int64_t v : values) integer(v);
  op(kTuple);
}

void PickleWriter::le(uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

const char* storage_class(c10::ScalarType dtype) {
  for (const auto& [name, type] : kStorageTypes)
    if (type == dtype) return name;
  throw std::invalid_argument(std::string("save_state_dict: no torch.save storage for dtype ") + c10::toString(dtype));
}

std::optional<c10::ScalarType> storage_dtype(const std::string& name) {
  for (const auto& [storage, type] : kStorageTypes)
    if (name == std::string("torch.") + storage) return type;
  return std::nullopt;
}

}  // namespace nin::format
