#include "ops/rms_norm.h"

#include "ops/check.h"
#include "ops/cpu/cpu_ops.h"

namespace si::ops {
namespace {

void validate(const TensorView& x, const TensorView& w, const TensorView& y) {
  expect_f32(x, "rms_norm", "x");
  expect_f32(w, "rms_norm", "weight");
  expect_f32(y, "rms_norm", "y");
  expect_ndim(w, 1, "rms_norm", "weight");
  expect_dim(x, -1, w.dim(0), "rms_norm", "x");
  SI_CHECK(y.shape == x.shape, "rms_norm: y shape {} differs from x shape {}", shape_str(y.shape), shape_str(x.shape));
}

}  // namespace

void rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& y, ThreadPool& pool) {
  validate(x, w, y);
  cpu::rms_norm(x.as<float>(), w.as<float>(), eps, y.as<float>(), x.rows(), x.cols(), pool);
}

void rms_norm_ref(const TensorView& x, const TensorView& w, float eps, const TensorView& y) {
  validate(x, w, y);
  cpu::rms_norm_ref(x.as<float>(), w.as<float>(), eps, y.as<float>(), x.rows(), x.cols());
}

}  // namespace si::ops
