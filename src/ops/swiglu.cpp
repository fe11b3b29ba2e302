#include "ops/swiglu.h"

#include "ops/check.h"
#include "ops/cpu/cpu_ops.h"

namespace si::ops {
namespace {

void validate2(const TensorView& a, const TensorView& b, const char* op, const char* an, const char* bn) {
  expect_f32(a, op, an);
  expect_f32(b, op, bn);
  SI_CHECK(a.shape == b.shape, "{}: {} shape {} differs from {} shape {}", op, an, shape_str(a.shape), bn,
           shape_str(b.shape));
}

}  // namespace

void swiglu(const TensorView& gate, const TensorView& up, const TensorView& out, ThreadPool& pool) {
  validate2(gate, up, "swiglu", "gate", "up");
  validate2(gate, out, "swiglu", "gate", "out");
  cpu::swiglu(gate.as<float>(), up.as<float>(), out.as<float>(), gate.numel(), pool);
}

void swiglu_ref(const TensorView& gate, const TensorView& up, const TensorView& out) {
  validate2(gate, up, "swiglu", "gate", "up");
  validate2(gate, out, "swiglu", "gate", "out");
  cpu::swiglu_ref(gate.as<float>(), up.as<float>(), out.as<float>(), gate.numel());
}

void add(const TensorView& x, const TensorView& r, ThreadPool& pool) {
  validate2(x, r, "add", "x", "r");
  cpu::add(x.as<float>(), r.as<float>(), x.numel(), pool);
}

void add_ref(const TensorView& x, const TensorView& r) {
  validate2(x, r, "add", "x", "r");
  cpu::add_ref(x.as<float>(), r.as<float>(), x.numel());
}

}  // namespace si::ops
