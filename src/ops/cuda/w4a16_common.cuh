// ops/cuda/w4a16_common.cuh — device helpers shared by the W4A16 kernels (w4a16.cu, w4a16_v2.cu):
// nibbles to fp16, the scale/zero word, and the tensor-core instruction.
//
// Each packed 32-bit word holds 8 nibbles of one lane (w4a16_pack.cpp): nibbles 0 and 4 are rows
// r at inputs (+0, +1), nibbles 1 and 5 row r+8 at (+0, +1), nibbles 2 and 6 row r at (+2, +3),
// nibbles 3 and 7 row r+8 at (+2, +3) — each pair is one fp16x2 register of an mma A fragment.
// The sz word of a (group, row): fp16 (1024 + zero) in the low half, fp16 scale in the high half.
#pragma once

#include <cstdint>

#include <cuda_fp16.h>

namespace si::cuda::w4 {

__device__ __forceinline__ __half2 as_h2(uint32_t u) { return *reinterpret_cast<__half2*>(&u); }
__device__ __forceinline__ uint32_t as_u32(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }

// Nibbles at bits shift and shift+16 become fp16 1024+q (exponent bits 0x6400), then (q - z) * s:
// the weight rounded to fp16 once, as the reference dequantizes.
__device__ __forceinline__ uint32_t dequant2(uint32_t w, int shift, __half2 z2, __half2 s2) {
  uint32_t h = ((w >> shift) & 0x000F000Fu) | 0x64006400u;
  return as_u32(__hmul2(__hsub2(as_h2(h), z2), s2));
}

__device__ __forceinline__ __half2 z_of(uint32_t sz) { return __half2half2(__ushort_as_half((unsigned short)(sz & 0xffffu))); }
__device__ __forceinline__ __half2 s_of(uint32_t sz) { return __half2half2(__ushort_as_half((unsigned short)(sz >> 16))); }
__device__ __forceinline__ float scale_f32(uint32_t sz) { return __half2float(__ushort_as_half((unsigned short)(sz >> 16))); }

// The four A-fragment registers of one packed word as (q - zero), exact small integers in fp16,
// without shifts for the odd nibbles: a nibble at bits 4..7 of a half gives 1024 + 16q, and
// (1024 + 16q) / 16 - (64 + z) is exact in one fma. z_lo = 1024 + zero of row r, z_hi = -(64 +
// zero) of row r+8.
__device__ __forceinline__ void q_minus_z(uint32_t w, __half2 z_lo, __half2 z_hi, uint32_t (&a)[4]) {
  const __half2 sixteenth = __half2half2(__ushort_as_half((unsigned short)0x2C00));
  const uint32_t w8 = w >> 8;
  a[0] = as_u32(__hsub2(as_h2((w & 0x000F000Fu) | 0x64006400u), z_lo));
  a[1] = as_u32(__hfma2(as_h2((w & 0x00F000F0u) | 0x64006400u), sixteenth, z_hi));
  a[2] = as_u32(__hsub2(as_h2((w8 & 0x000F000Fu) | 0x64006400u), z_lo));
  a[3] = as_u32(__hfma2(as_h2((w8 & 0x00F000F0u) | 0x64006400u), sixteenth, z_hi));
}

// c (16x8 fp32) += a (16x16 fp16, row major) * b (16x8 fp16, column major).
__device__ __forceinline__ void mma16816(float* c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

}  // namespace si::cuda::w4
