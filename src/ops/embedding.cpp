#include "ops/embedding.h"

#include "ops/check.h"
#include "ops/matmul.h"

namespace si::ops {
namespace {

// table (V, C)
void validate(int64_t V, int64_t C, std::span<const int32_t> ids, const TensorView& out) {
  expect_f32(out, "embedding", "out");
  SI_CHECK(out.rows() == int64_t(ids.size()) && out.cols() == C, "embedding: out shape {} must be ({}, {})",
           shape_str(out.shape), ids.size(), C);
  for (size_t i = 0; i < ids.size(); ++i)
    SI_CHECK(ids[i] >= 0 && ids[i] < V, "embedding: token id {} at position {} outside the vocabulary [0, {})", ids[i],
             i, V);
}

void validate(const TensorView& table, std::span<const int32_t> ids, const TensorView& out) {
  expect_ndim(table, 2, "embedding", "table");
  validate(table.dim(0), table.dim(1), ids, out);
}

}  // namespace

void embedding(const TensorView& table, std::span<const int32_t> ids, const TensorView& out, ThreadPool& pool) {
  validate(table, ids, out);
  const int64_t C = table.dim(1);
  pool.parallel_for(int64_t(ids.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) weight_row_f32(table, ids[size_t(i)], out.as<float>() + i * C);
  });
}

void embedding(const PackedWeight& table, std::span<const int32_t> ids, const TensorView& out, ThreadPool& pool) {
  validate(table.rows(), table.cols(), ids, out);
  const int64_t C = table.cols();
  pool.parallel_for(int64_t(ids.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) table.dequantize_row(ids[size_t(i)], out.as<float>() + i * C);
  });
}

void embedding_ref(const TensorView& table, std::span<const int32_t> ids, const TensorView& out) {
  validate(table, ids, out);
  const int64_t C = table.dim(1);
  for (size_t i = 0; i < ids.size(); ++i) weight_row_f32(table, ids[i], out.as<float>() + int64_t(i) * C);
}

}  // namespace si::ops
