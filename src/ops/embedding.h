// ops/embedding.h — token embedding lookup from a table of any stored type.
//
//   si::ops::embedding(table, ids, out, pool);   // table (V, C) any dtype, out (T, C) f32
//   si::ops::embedding(packed, ids, out, pool);  // the table's repacked copy (tied output matrix)
//
// Ids outside [0, V) give si::Error naming the position and the id.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/packed_weight.h"

namespace si::ops {

void embedding(const TensorView& table, std::span<const int32_t> ids, const TensorView& out, ThreadPool& pool);
void embedding(const PackedWeight& table, std::span<const int32_t> ids, const TensorView& out, ThreadPool& pool);
void embedding_ref(const TensorView& table, std::span<const int32_t> ids, const TensorView& out);

}  // namespace si::ops
