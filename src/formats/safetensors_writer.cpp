// SafetensorsWriter: the python library's layout (safetensors/src/tensor.rs `prepare`) and
// transformers' sharding (huggingface_hub split_torch_state_dict_into_shards).
#include <algorithm>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/safetensors.h"

namespace si {
namespace {

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }  // raw UTF-8, like serde_json

}  // namespace

void SafetensorsWriter::add(std::string name, DType dtype, Shape shape, const void* data) {
  add(std::move(name), dtype, std::move(shape), Source{});
  tensors_.back().data = data;
  SI_CHECK(data != nullptr || tensors_.back().bytes == 0, "safetensors tensor '{}': null data", tensors_.back().name);
}

void SafetensorsWriter::add(std::string name, DType dtype, Shape shape, Source source) {
  SI_CHECK(!name.empty() && name != "__metadata__", "safetensors tensor name '{}' is not allowed", name);
  SI_CHECK(!names_.count(name), "safetensors tensor '{}' added twice", name);
  const uint64_t item = uint64_t(dtype_type_size(dtype));
  (void)dtype_to_safetensors(dtype);  // throws for types safetensors cannot hold
  uint64_t numel = 1;
  for (int64_t d : shape) {
    SI_CHECK(d >= 0, "safetensors tensor '{}': negative dimension in {}", name, shape_str(shape));
    numel *= uint64_t(d);
  }
  names_[name] = tensors_.size();
  tensors_.push_back(Entry{std::move(name), dtype, std::move(shape), numel * item, nullptr, std::move(source)});
}

uint64_t SafetensorsWriter::tensor_bytes() const {
  uint64_t n = 0;
  for (const auto& e : tensors_) n += e.bytes;
  return n;
}

std::vector<size_t> SafetensorsWriter::file_order(const std::vector<size_t>& subset) const {
  std::vector<size_t> order = subset;
  if (order.empty()) {
    order.resize(tensors_.size());
    std::iota(order.begin(), order.end(), size_t(0));
  }
  // Descending dtype alignment, then name (byte-wise, like Rust's String ordering).
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int ra = safetensors_dtype_rank(tensors_[a].dtype), rb = safetensors_dtype_rank(tensors_[b].dtype);
    if (ra != rb) return ra > rb;
    return tensors_[a].name < tensors_[b].name;
  });
  return order;
}

std::string SafetensorsWriter::header_json(const std::vector<size_t>& subset) const {
  std::string h = "{";
  bool first = true;
  if (!metadata_.empty()) {
    h += "\"__metadata__\":{";
    bool f = true;
    for (const auto& [k, v] : metadata_) {
      h += fmt::format("{}{}:{}", f ? "" : ",", quoted(k), quoted(v));
      f = false;
    }
    h += "}";
    first = false;
  }
  uint64_t offset = 0;
  for (size_t i : file_order(subset)) {
    const Entry& e = tensors_[i];
    h += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", first ? "" : ",", quoted(e.name),
                     dtype_to_safetensors(e.dtype), fmt::join(e.shape, ","), offset, offset + e.bytes);
    offset += e.bytes;
    first = false;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  return h;
}

void SafetensorsWriter::write_subset(const std::string& path, const std::vector<size_t>& subset) const {
  const std::string header = header_json(subset);
  AtomicFile out(path);
  const uint64_t n = header.size();
  out.write(&n, 8);
  out.write(header);
  for (size_t i : file_order(subset)) {
    const Entry& e = tensors_[i];
    const uint64_t start = out.bytes_written();
    if (e.data || !e.source) {
      if (e.bytes) out.write(e.data, e.bytes);
    } else {
      e.source([&](const void* p, size_t k) {
        SI_CHECK(out.bytes_written() - start + k <= e.bytes, "safetensors tensor '{}': source gave more than {} bytes", e.name, e.bytes);
        out.write(p, k);
      });
      const uint64_t got = out.bytes_written() - start;
      SI_CHECK(got == e.bytes, "safetensors tensor '{}': source gave {} bytes, expected {}", e.name, got, e.bytes);
    }
  }
  out.commit();
}

void SafetensorsWriter::write(const std::string& path) const { write_subset(path, {}); }

std::vector<std::string> SafetensorsWriter::write_sharded(const std::string& dir, uint64_t max_shard_bytes,
                                                          const std::string& prefix) const {
  SI_CHECK(max_shard_bytes > 0, "max shard size must be positive");
  SI_CHECK(!tensors_.empty(), "no tensors to write to {}", dir);
  // Insertion order; a tensor larger than the limit gets a shard of its own.
  std::vector<std::vector<size_t>> shards;
  std::vector<size_t> current;
  uint64_t current_bytes = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const uint64_t b = tensors_[i].bytes;
    if (b > max_shard_bytes) {
      shards.push_back({i});
      continue;
    }
    if (current_bytes + b > max_shard_bytes && !current.empty()) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += b;
  }
  if (!current.empty()) shards.push_back(std::move(current));

  std::filesystem::create_directories(dir);
  const std::filesystem::path base(dir);
  std::vector<std::string> written;
  if (shards.size() == 1) {
    written.push_back((base / (prefix + ".safetensors")).string());
    write_subset(written.back(), shards[0]);
    return written;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = fmt::format("{}-{:05d}-of-{:05d}.safetensors", prefix, s + 1, shards.size());
    for (size_t i : shards[s]) weight_map[tensors_[i].name] = name;
    written.push_back((base / name).string());
    write_subset(written.back(), shards[s]);
  }
  // transformers: json.dumps(index, indent=2, sort_keys=True) + "\n"
  const nlohmann::json index = {{"metadata", {{"total_size", tensor_bytes()}}}, {"weight_map", weight_map}};
  written.push_back((base / (prefix + ".safetensors.index.json")).string());
  write_file_atomic(written.back(), index.dump(2, ' ', true) + "\n");
  return written;
}

}  // namespace si
