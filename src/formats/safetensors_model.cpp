// SafetensorsModel: one name -> tensor lookup over a file, a directory, or a sharded checkpoint.
#include <algorithm>
#include <filesystem>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"
#include "formats/safetensors.h"

namespace si {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("not valid JSON: {}", e.what())).at(path, e.byte ? e.byte - 1 : 0);
  }
}

}  // namespace

SafetensorsModel SafetensorsModel::open(const std::string& dir_or_file) {
  SafetensorsModel m;
  m.path_ = dir_or_file;
  m.shards_ = std::make_unique<std::vector<SafetensorsFile>>();
  std::vector<std::string> files;

  std::error_code ec;
  if (fs::is_directory(dir_or_file, ec)) {
    const fs::path dir(dir_or_file);
    std::vector<std::string> st, idx;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (ends_with(name, ".safetensors.index.json")) idx.push_back(e.path().string());
      else if (ends_with(name, ".safetensors") && e.is_regular_file()) st.push_back(e.path().string());
    }
    std::sort(st.begin(), st.end());
    std::sort(idx.begin(), idx.end());
    if (fs::exists(dir / "model.safetensors.index.json")) m.index_path_ = (dir / "model.safetensors.index.json").string();
    else if (fs::exists(dir / "model.safetensors")) files.push_back((dir / "model.safetensors").string());
    else if (idx.size() == 1) m.index_path_ = idx[0];
    else files = st;  // e.g. adapter_model.safetensors, or shards without an index
    if (m.index_path_.empty() && files.empty())
      throw Error("no .safetensors files in this directory").at(dir_or_file).hint("pass a model directory or a .safetensors file");
  } else if (ends_with(dir_or_file, ".index.json")) {
    m.index_path_ = dir_or_file;
  } else {
    files.push_back(dir_or_file);  // MappedFile reports a missing file
  }

  std::vector<std::pair<std::string, std::string>> weight_map;  // tensor -> shard path
  if (!m.index_path_.empty()) {
    const nlohmann::json j = parse_json_file(m.index_path_);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error("index has no \"weight_map\" object").at(m.index_path_);
    const fs::path base = fs::path(m.index_path_).parent_path();
    std::set<std::string> seen;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw Error(fmt::format("weight_map entry '{}' is not a file name", it.key())).at(m.index_path_);
      const std::string shard = (base / it.value().get<std::string>()).string();
      weight_map.emplace_back(it.key(), shard);
      if (seen.insert(shard).second) files.push_back(shard);
    }
    std::sort(files.begin(), files.end());
  }

  m.shards_->reserve(files.size());
  for (const auto& f : files) m.shards_->push_back(SafetensorsFile::open(f));
  std::unordered_map<std::string, const std::string*> owner;  // tensor -> first shard holding it
  for (const auto& shard : *m.shards_) {
    for (const auto& t : shard.tensors()) {
      auto [it, fresh] = owner.emplace(t.name, &shard.path());
      if (fresh) m.lookup_.emplace(t.name, &t);
      else if (weight_map.empty())
        throw Error(fmt::format("tensor '{}' is in both {} and {}", t.name, *it->second, shard.path())).at(dir_or_file);
    }
  }
  // With an index, the weight_map decides which shard a tensor comes from, and must be right.
  for (const auto& [name, shard_path] : weight_map) {
    const SafetensorsTensor* t = nullptr;
    for (const auto& shard : *m.shards_)
      if (shard.path() == shard_path) t = shard.find(name);
    if (!t)
      throw Error(fmt::format("weight_map puts tensor '{}' in {}, which does not hold it", name, shard_path)).at(m.index_path_);
    m.lookup_[name] = t;
  }
  return m;
}

const SafetensorsTensor* SafetensorsModel::find(std::string_view name) const {
  auto it = lookup_.find(std::string(name));
  return it == lookup_.end() ? nullptr : it->second;
}

const SafetensorsTensor& SafetensorsModel::get(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  throw Error(fmt::format("tensor '{}' not found", name)).at(path_);
}

std::vector<const SafetensorsTensor*> SafetensorsModel::tensors() const {
  std::vector<const SafetensorsTensor*> out;
  for (const auto& shard : *shards_)
    for (const auto& t : shard.tensors())
      if (find(t.name) == &t) out.push_back(&t);
  return out;
}

uint64_t SafetensorsModel::tensor_bytes() const {
  uint64_t n = 0;
  for (const auto* t : tensors()) n += t->bytes();
  return n;
}

}  // namespace si
