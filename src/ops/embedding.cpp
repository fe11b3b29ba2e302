#include "ops/embedding.h"

#include "ops/check.h"
#include "ops/matmul.h"

namespace si::ops {
namespace {

void validate(const TensorView& table, std::span<const int32_t> ids, const TensorView& out) {
  expect_ndim(table, 2, "embedding", "table");
  expect_f32(out, "embedding", "out");
  SI_CHECK(out.rows() == int64_t(ids.size()) && out.cols() == table.dim(1),
           "embedding: out shape {} must be ({}, {})", shape_str(out.shape), ids.size(), table.dim(1));
  for (size_t i = 0; i < ids.size(); ++i)
    SI_CHECK(ids[i] >= 0 && ids[i] < table.dim(0), "embedding: token id {} at position {} outside the vocabulary "
             "[0, {})", ids[i], i, table.dim(0));
}

}  // namespace

void embedding(const TensorView& table, std::span<const int32_t> ids, const TensorView& out, ThreadPool& pool) {
  validate(table, ids, out);
  const int64_t C = table.dim(1);
  pool.parallel_for(int64_t(ids.size()), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) weight_row_f32(table, ids[size_t(i)], out.as<float>() + i * C);
  });
}

void embedding_ref(const TensorView& table, std::span<const int32_t> ids, const TensorView& out) {
  validate(table, ids, out);
  const int64_t C = table.dim(1);
  for (size_t i = 0; i < ids.size(); ++i) weight_row_f32(table, ids[i], out.as<float>() + int64_t(i) * C);
}

}  // namespace si::ops
