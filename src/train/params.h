// train/params.h — a flat set of named parameters (llm.c style: one allocation, tensors are offsets).
//
//   si::train::ParamSet<float> p;
//   int wq = p.add("model.layers.0.self_attn.q_proj.weight", {64, 64});
//   p.allocate();                  // zero-filled
//   float* w = p.ptr(wq);          // (64, 64)
//
// Gradients and optimiser moments use the same layout, so they are plain vectors of size numel().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace si::train {

struct ParamEntry {
  std::string name;
  Shape shape;
  int64_t offset = 0;
  int64_t numel = 0;
};

template <typename T> struct ParamSet {
  std::vector<ParamEntry> entries;
  std::vector<T> data;

  int add(const std::string& name, const Shape& shape) {
    ParamEntry e{name, shape, total_, 1};
    for (int64_t d : shape) e.numel *= d;
    total_ += e.numel;
    entries.push_back(std::move(e));
    return int(entries.size()) - 1;
  }
  void allocate() { data.assign(size_t(total_), T(0)); }
  int64_t numel() const { return total_; }
  T* ptr(int i) { return data.data() + entries[size_t(i)].offset; }
  const T* ptr(int i) const { return data.data() + entries[size_t(i)].offset; }
  int find(const std::string& name) const {
    for (size_t i = 0; i < entries.size(); i++)
      if (entries[i].name == name) return int(i);
    return -1;
  }
  int index(const std::string& name) const {
    const int i = find(name);
    SI_CHECK(i >= 0, "no parameter named {}", name);
    return i;
  }

 private:
  int64_t total_ = 0;
};

}  // namespace si::train
