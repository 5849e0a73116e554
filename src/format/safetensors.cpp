#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <ATen/Functions.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensor bytes are written as the host holds them");

namespace nin::format {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference reader's limit
constexpr size_t kMaxRank = 8;

struct Dtype {
  const char* name;
  at::ScalarType type;
};
constexpr Dtype kDtypes[] = {{"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
                             {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
                             {"U8", at::kByte},    {"BOOL", at::kBool}};

const char* dtype_name(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw std::invalid_argument(std::string("safetensors: no dtype for ") + c10::toString(t));
}

// One header entry, checked: what the tensor is and where its bytes lie.
struct Entry {
  std::string name;
  at::ScalarType type;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // bytes, relative to the data section
};

Entry parse_entry(const std::string& name, const json& j, uint64_t data_bytes, const std::string& where) {
  auto bad = [&](const std::string& why) { return InputError(where + ": tensor '" + name + "': " + why); };
  if (!j.is_object()) throw bad("header entry is not an object");
  Entry e{name, at::kByte, {}, 0, 0};
  const auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) throw bad("no dtype");
  const auto known = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                  [&](const Dtype& d) { return d.name == dt->get<std::string>(); });
  if (known == std::end(kDtypes)) throw bad("unknown dtype " + dt->dump());
  e.type = known->type;
  const auto shape = j.find("shape");
  if (shape == j.end() || !shape->is_array() || shape->size() > kMaxRank)
    throw bad("shape missing or of rank above " + std::to_string(kMaxRank));
  uint64_t bytes = c10::elementSize(e.type);
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) throw bad("shape " + shape->dump() + " holds a non-count");
    const uint64_t n = d.get<uint64_t>();
    if (n != 0 && bytes > std::numeric_limits<uint64_t>::max() / n) throw bad("shape " + shape->dump() + " overflows");
    bytes *= n;
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    throw bad("data_offsets is not [begin, end]");
  e.begin = (*off)[0].get<uint64_t>(), e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_bytes)
    throw bad("data_offsets " + off->dump() + " lie outside the " + std::to_string(data_bytes) + " data bytes");
  if (e.end - e.begin != bytes)
    throw bad("shape " + shape->dump() + " needs " + std::to_string(bytes) + " bytes, data_offsets span " +
              std::to_string(e.end - e.begin));
  return e;
}

}  // namespace

std::string encode_safetensors(const NamedTensors& tensors, const Metadata& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (header.contains(name)) throw std::invalid_argument("safetensors: duplicate tensor name " + name);
    cpu.push_back(t.detach().to(at::kCPU).contiguous());
    const uint64_t n = cpu.back().nbytes();
    header[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t length = text.size();
  std::memcpy(out.data(), &length, sizeof length);
  out.reserve(8 + text.size() + offset);
  out += text;
  for (const auto& t : cpu)
    if (t.nbytes() > 0) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

TensorFile decode_safetensors(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 8) throw InputError(source + ": tensor data truncated (" + std::to_string(bytes.size()) + " bytes)");
  uint64_t length = 0;
  std::memcpy(&length, bytes.data(), sizeof length);
  if (length > kMaxHeaderBytes || length > bytes.size() - 8)
    throw InputError(source + ": tensor header of " + std::to_string(length) + " bytes does not fit the file");
  const json header = json::parse(bytes.substr(8, length), nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) throw InputError(source + ": tensor header is not a JSON object");
  const std::string_view data = bytes.substr(8 + length);
  TensorFile out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name != "__metadata__") {
      entries.push_back(parse_entry(name, value, data.size(), source));
      continue;
    }
    if (!value.is_object()) throw InputError(source + ": __metadata__ is not an object");
    for (const auto& [key, v] : value.items()) {
      if (!v.is_string()) throw InputError(source + ": __metadata__." + key + " is not a string");
      out.metadata[key] = v.get<std::string>();
    }
  }
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);  // an empty tensor overlaps nothing
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      throw InputError(source + ": tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
  for (const auto& e : entries) {  // every entry checked: now allocate
    auto t = at::empty(e.shape, at::TensorOptions().dtype(e.type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data.data() + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace nin::format
