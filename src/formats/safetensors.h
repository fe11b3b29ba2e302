// formats/safetensors.h — Hugging Face safetensors: zero-copy reading (mmap), sharded checkpoints,
// and writing byte-identically to the python `safetensors` library.
//
//   si::SafetensorsModel m = si::SafetensorsModel::open("models/llama");  // dir, file or sharded
//   const si::TensorView& w = m.get("model.embed_tokens.weight").view;   // (V, C), F32/BF16/...
//
//   si::SafetensorsWriter out;
//   out.set_metadata("format", "pt");
//   out.add("lm_head.weight", si::DType::F32, {V, C}, ptr);   // ptr must live until write()
//   out.write("model.safetensors");                            // atomically
//   out.write_sharded("outdir", 2ull << 30);                   // model-0000k-of-0000n + index json
//
// File layout: u64 little-endian header length N, N bytes of JSON (padded with spaces to a multiple
// of 8), then the data section. Offsets in the header are relative to the data section.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/mmap.h"
#include "core/tensor.h"

namespace si {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // data_offsets[0], relative to the data section
  uint64_t end = 0;    // data_offsets[1]
  TensorView view;     // points into the mapping
  uint64_t bytes() const { return end - begin; }
};

// safetensors dtype spelling ("F32", "BF16", "BOOL", ...) <-> DType; nullopt for types we lack.
std::optional<DType> dtype_from_safetensors(std::string_view name);
std::string_view dtype_to_safetensors(DType t);  // throws for quantized types
int safetensors_dtype_rank(DType t);              // the library's dtype order (-1 if none)

class SafetensorsFile {
 public:
  // Maps the file and validates the header; throws si::Error naming the file and the problem.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  uint64_t file_size() const { return file_.size(); }
  uint64_t header_size() const { return header_size_; }      // N, the JSON length incl. padding
  uint64_t data_offset() const { return 8 + header_size_; }   // absolute offset of the data section
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__

  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // in file (data) order
  const SafetensorsTensor* find(std::string_view name) const;                 // nullptr when absent
  const SafetensorsTensor& get(std::string_view name) const;                  // throws when absent
  uint64_t tensor_bytes() const;                                              // sum of tensor sizes

 private:
  MappedFile file_;
  uint64_t header_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// A model's weights: one safetensors file, a directory holding `model.safetensors`, or a sharded
// directory with `model.safetensors.index.json` (its weight_map says which shard holds a tensor).
class SafetensorsModel {
 public:
  static SafetensorsModel open(const std::string& dir_or_file);

  const std::string& path() const { return path_; }
  const std::string& index_path() const { return index_path_; }  // empty when not sharded
  const std::vector<SafetensorsFile>& shards() const { return *shards_; }
  const SafetensorsTensor* find(std::string_view name) const;
  const SafetensorsTensor& get(std::string_view name) const;      // throws naming the model
  std::vector<const SafetensorsTensor*> tensors() const;          // shard by shard, file order
  uint64_t tensor_bytes() const;

 private:
  std::string path_;
  std::string index_path_;
  std::unique_ptr<std::vector<SafetensorsFile>> shards_;  // stable addresses for the lookup below
  std::unordered_map<std::string, const SafetensorsTensor*> lookup_;
};

class SafetensorsWriter {
 public:
  using ByteSink = std::function<void(const void* data, size_t n)>;
  using Source = std::function<void(const ByteSink& emit)>;  // must emit exactly numel*itemsize

  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  // `data` is not copied: it must stay valid until write() returns.
  void add(std::string name, DType dtype, Shape shape, const void* data);
  void add(std::string name, DType dtype, Shape shape, Source source);
  void add(const SafetensorsTensor& t) { add(t.name, t.dtype, t.shape, t.view.data); }

  size_t size() const { return tensors_.size(); }
  uint64_t tensor_bytes() const;

  // One file, laid out as the python library does: tensors ordered by dtype alignment (largest
  // first) then by name, `__metadata__` first in the header, header padded with spaces.
  void write(const std::string& path) const;

  // transformers' save_pretrained sharding: tensors in insertion order go to the current shard
  // until it would exceed `max_shard_bytes`; writes `<prefix>-0000k-of-0000n.safetensors` and
  // `<prefix>.safetensors.index.json` ({"metadata": {"total_size"}, "weight_map"}) into `dir`, or
  // a single `<prefix>.safetensors` when everything fits in one shard. Returns the files written.
  std::vector<std::string> write_sharded(const std::string& dir, uint64_t max_shard_bytes,
                                         const std::string& prefix = "model") const;

  // The header JSON (with padding) that write() would produce for tensors [subset] (all if empty).
  std::string header_json(const std::vector<size_t>& subset = {}) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t bytes;
    const void* data;
    Source source;
  };
  void write_subset(const std::string& path, const std::vector<size_t>& subset) const;
  std::vector<size_t> file_order(const std::vector<size_t>& subset) const;
  std::map<std::string, std::string> metadata_;
  std::vector<Entry> tensors_;
  std::unordered_map<std::string, size_t> names_;
};

}  // namespace si
