// ops/cuda/cuda_ops.h — the forward ops of the Llama block on the GPU (the CUDA half of ops/).
//
//   si::cuda::rms_norm(DType::F32, x, w, 1e-5f, DType::F16, xn, T, C, stream);   // (T, C) -> (T, C)
//   si::cuda::rope(DType::F16, qkv, ld, inv_freq, pos, T, H, D, false, stream);  // q heads in place
//   si::cuda::attention(DType::F16, q, ldq, out, ldo, T, H, cache, meta, stream);
//   int n = si::cuda::attention_chunks(meta_host, T, si::cuda::attention_mma_chunk_tokens(...), chunks_host);
//   si::cuda::attention_mma(q, ldq, out, ldo, T, H, cache, meta, chunks, stream);   // F16, tensor cores
//
// All pointers are device pointers. Activations and weights are stored as F32, F16 or BF16 (the
// DType arguments); arithmetic is fp32 everywhere, so each op computes what the CPU fp32 reference
// computes on the same (rounded) inputs. Each op is one launch on `s`; no op synchronizes. Inputs
// the CPU dispatch files check element by element (token ids, positions) must be checked by the
// caller on the host before upload: the runner does. The matrix products are in ops/cuda/matmul.h.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace si::cuda {

// out (T, C) = table[ids[t]] ; table (V, C) of table_t, out of out_t.
void embedding(DType table_t, const void* table, int64_t C, const int32_t* ids, int64_t T, DType out_t, void* out,
               cudaStream_t s);

// y (T, C) = w * x / sqrt(mean(x^2) + eps) ; w (C) f32. y may be x when the types match.
void rms_norm(DType x_t, const void* x, const float* w, float eps, DType y_t, void* y, int64_t T, int64_t C,
              cudaStream_t s);
// The same on selected rows: y (n, C) row i = rms_norm of x row rows[i] (rows: n device indices);
// y must not overlap x.
void rms_norm_rows(DType x_t, const void* x, const int32_t* rows, int64_t n, const float* w, float eps, DType y_t,
                   void* y, int64_t C, cudaStream_t s);

// x: T tokens, row stride `ld` elements, each holding H heads of D values at x + t*ld + h*D;
// rotated in place by pos[t] * inv_freq[i] (inv_freq: D/2 floats, llama3 scaling already applied,
// from ops::rope_inv_freq). Pairing (i, i + D/2) as HF, or (2i, 2i+1) as GGML when `interleaved`.
void rope(DType t, void* x, int64_t ld, const float* inv_freq, const int32_t* pos, int64_t T, int H, int D,
          bool interleaved, cudaStream_t s);

// out (T, F) = silu(gate) * up; gate/up rows start every `ld_in` elements (a fused (T, 2F)
// gate|up buffer passes gate = buf, up = buf + F, ld_in = 2F). out may alias gate.
void swiglu(DType t, const void* gate, const void* up, int64_t ld_in, void* out, int64_t T, int64_t F,
            cudaStream_t s);

// x (n) += r (n)
void add(DType x_t, void* x, DType r_t, const void* r, int64_t n, cudaStream_t s);

// dst (n) = src (n) in another storage type.
void convert(DType src_t, const void* src, DType dst_t, void* dst, int64_t n, cudaStream_t s);

// x (n) = scale * uniform(-sqrt(3), sqrt(3)) (std `scale`) + offset, from a hash of (seed, index):
// random weights for benchmarks without a host-side model.
void fill_random(DType t, void* x, int64_t n, uint64_t seed, float scale, float offset, cudaStream_t s);

// out[r] = argmax_v x[r, v] for r < n; x (n, V) f32. Ties go to the lowest index and NaN never wins
// (std::max_element on rows without NaN). Greedy decoding without copying logits to the host.
// work: argmax_work_bytes(n) of device memory, zeroed once by the caller (each launch leaves it
// zeroed again, so a captured graph can replay it); one launch uses it at a time.
size_t argmax_work_bytes(int64_t n);
void argmax_rows(const float* x, int64_t n, int64_t V, int32_t* out, void* work, cudaStream_t s);

// ---- attention over a KV cache in device memory ------------------------------------------------

// One layer's keys and values for every slot: k, v each (n_slots, KVH, capacity, D) of type `t`.
struct KvLayer {
  void* k = nullptr;
  void* v = nullptr;
  DType t = DType::F16;
  int n_kv_heads = 0;
  int head_dim = 0;
  int capacity = 0;
};

// Where token t of a batch lives: its slot, its position, and an optional shared prefix (positions
// [0, prefix_len) are read from slot `prefix_slot`), as ops::AttnSource on the CPU.
struct TokenMeta {
  int32_t slot = 0;
  int32_t pos = 0;
  int32_t prefix_slot = 0;
  int32_t prefix_len = 0;
};

// Writes k, v (T, KVH, D) (row stride ld elements, of type `t`) into the cache at each token's slot
// and position.
void kv_store(DType t, const void* k, const void* v, int64_t ld, const KvLayer& cache, const TokenMeta* meta,
              int64_t T, cudaStream_t s);

// rope() on the H q heads and KVH k heads of fused q|k|v rows (k at H*D, v at (H+KVH)*D of each
// row), then kv_store() of the rotated k and of v, in one launch (ops/cuda/rope_kv.cu); positions
// are meta[t].pos. Bitwise the same results as the two ops.
void rope_kv_store(DType t, void* qkv, int64_t ld, const float* inv_freq, int64_t T, int H, const KvLayer& cache,
                   const TokenMeta* meta, bool interleaved, cudaStream_t s);

// Causal GQA attention: token t's H query heads (q + t*ldq, (H, D), type `t`) attend to positions
// 0..pos of their sequence (already in the cache), softmax in fp32, scale 1/sqrt(D). out (T, H, D)
// rows every ldo elements. head_dim at most 128. `meta` is a device array of T entries.
void attention(DType t, const void* q, int64_t ldq, void* out, int64_t ldo, int64_t T, int H, const KvLayer& cache,
               const TokenMeta* meta, cudaStream_t s);

// The same attention on the tensor cores (attention_mma.cu) for F16 caches: one block per chunk of
// consecutive tokens of one sequence and kv head, so the tokens of a prefill share each K/V tile.
// Tokens per chunk for this shape, 0 when the kernel does not apply (then use attention()).
int attention_mma_chunk_tokens(DType t, int H, int KVH, int D);
// Host: splits a batch of T tokens (meta on the host) into chunks of at most max_tokens consecutive
// tokens of one sequence at consecutive positions. chunks (T + 2 ints): [0] = n, [1 .. n] the first
// token of each, [n + 1] = T. Returns n.
int attention_chunks(const TokenMeta* meta, int64_t T, int max_tokens, int32_t* chunks);
// `chunks` is attention_chunks' array on the device (read there, so a captured graph serves any
// batch of T tokens). q, out and the cache F16; P is rounded to fp16 for the P V product, as
// FlashAttention does (the CUDA-core kernel keeps it in fp32).
void attention_mma(const void* q, int64_t ldq, void* out, int64_t ldo, int64_t T, int H, const KvLayer& cache,
                   const TokenMeta* meta, const int32_t* chunks, cudaStream_t s);

// Greedy decoding's feed between steps on the device (a runner's generate): gen[b * n_cols + col] =
// next[b] for the B sequences of a step; with ids, also ids[b] = next[b] (the next step's input
// tokens), and with `advance` pos[b] and meta[b].pos one position further. One small launch.
void greedy_feed(const int32_t* next, int64_t B, int32_t* gen, int n_cols, int col, int32_t* ids, int32_t* pos,
                 TokenMeta* meta, bool advance, cudaStream_t s);

}  // namespace si::cuda
