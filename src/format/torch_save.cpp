#include "format/torch_save.h"

#include <cstring>
#include <fstream>
#include <stdexcept>

#include <c10/util/Exception.h>
#include <torch/types.h>

#include "format/atomic_file.h"
#include "format/pickle.h"
#include "format/unpickler.h"
#include "format/zip.h"
#include "util/error.h"

namespace nin::format {
namespace fs = std::filesystem;
using namespace pickle_op;
namespace {

// Ends every load error: the two forms of torch.save that load_state_dict reads.
constexpr const char* kResaveHint =
    " -- in Python, save the weights with torch.save(model.state_dict(), path) "
    "or torch.save(dict(model.state_dict()), path) (PyTorch >= 1.6, default zip format)";

// The pickle torch.save(dict) writes: {name: _rebuild_tensor_v2(storage, 0, size, stride,
// False, OrderedDict())}, each storage a persistent id naming the record data/KEY, KEY
// being the tensor's index in `tensors` (all contiguous, on the CPU).
std::string state_dict_pickle(const NamedTensors& tensors) {
  PickleWriter p;
  p.op(kProto), p.op(2), p.op(kEmptyDict), p.op(kMark);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    p.string(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op(kMark);
    p.op(kMark), p.string("storage"), p.global("torch", storage_class(t.scalar_type()));
    p.string(std::to_string(i)), p.string("cpu"), p.integer(t.numel()), p.op(kTuple);
    p.op(kBinPersId);
    p.integer(0), p.int_tuple(t.sizes()), p.int_tuple(t.strides()), p.op(kNewFalse);
    p.global("collections", "OrderedDict"), p.op(kEmptyTuple), p.op(kReduce);  // backward hooks
    p.op(kTuple), p.op(kReduce);
  }
  p.op(kSetItems), p.op(kStop);
  return p.bytes();
}

// The dict of tensors in a torch.save zip archive; std::runtime_error (or c10::Error from
// the zip reader) saying what is wrong.
NamedTensors read_archive(const fs::path& path) {
  ZipReader zip(path);
  if (zip.has("byteorder") && zip.text("byteorder") != "little") throw std::runtime_error("saved on a big-endian machine");
  const std::string pickle = zip.text("data.pkl");
  const PyValuePtr root = unpickle(pickle, [&](const std::string& key, torch::ScalarType dtype, int64_t numel) {
    auto [data, size] = zip.record("data/" + key);
    const size_t item = c10::elementSize(dtype);  // checked before allocating: numel comes from the file
    if (static_cast<uint64_t>(numel) > size / item)
      throw std::runtime_error("storage data/" + key + " holds " + std::to_string(size) + " bytes, expected " +
                               std::to_string(static_cast<uint64_t>(numel) * item));
    auto t = torch::empty({numel}, torch::dtype(dtype));
    if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data.get(), t.nbytes());
    return t;
  });
  if (root->kind != PyValue::Kind::kDict) throw std::runtime_error("holds " + describe(*root) + ", not a dict of tensors");
  NamedTensors out;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != PyValue::Kind::kString) throw std::runtime_error("has a key that is not a string");
    if (value->kind != PyValue::Kind::kTensor)
      throw std::runtime_error("'" + key->text + "' holds " + describe(*value) + ", not a tensor");
    out.emplace_back(key->text, value->tensor.clone(torch::MemoryFormat::Contiguous));
  }
  return out;
}

}  // namespace

void save_state_dict(const fs::path& path, const NamedTensors& tensors, Existing existing) {
  NamedTensors cpu;  // what the storage records hold: contiguous CPU copies
  for (const auto& [name, tensor] : tensors) cpu.emplace_back(name, tensor.detach().cpu().contiguous());
  const std::string pickle = state_dict_pickle(cpu);
  std::vector<ZipRecord> records = {{"data.pkl", pickle.data(), pickle.size()},
                                    {"byteorder", "little", 6}};  // as torch.save since 2.1; older readers skip it
  for (size_t i = 0; i < cpu.size(); ++i)
    records.push_back({"data/" + std::to_string(i), cpu[i].second.data_ptr(), cpu[i].second.nbytes()});
  const std::string archive = zip_archive(records);
  write_atomically(path, {archive}, "state dict", existing);
}

NamedTensors load_state_dict(const fs::path& path) {
  std::error_code ec;
  if (const auto st = fs::status(path, ec); fs::exists(st) && !fs::is_regular_file(st))  // a FIFO would block the open
    throw InputError(path.string() + ": state dict is not a regular file (a FIFO, device or folder); refused");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": state dict not found or not readable");
  char head[sizeof kZipMagic] = {};
  in.read(head, sizeof head);
  if (in.gcount() != sizeof head || std::memcmp(head, kZipMagic, sizeof head) != 0) {
    const bool legacy = in.gcount() >= 2 && static_cast<uint8_t>(head[0]) == kProto;
    throw InputError(path.string() +
                     (legacy ? ": saved in PyTorch's legacy format (_use_new_zipfile_serialization=False)"
                             : ": not a torch.save file (no zip archive)") +
                     kResaveHint);
  }
  try {
    return read_archive(path);
  } catch (const InputError&) {  // names the path already
    throw;
  } catch (const c10::Error& e) {
    throw InputError(path.string() + ": unreadable torch.save archive: " + e.what_without_backtrace() + kResaveHint);
  } catch (const std::runtime_error& e) {
    throw InputError(path.string() + ": " + e.what() + kResaveHint);
  }
}

}  // namespace nin::format
