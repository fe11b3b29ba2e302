// ops/cpu/ref_backward.h — fp32/fp64 reference forward-with-saved-state and backward of every op of a
// Llama-family model, in plain loops (llm.c style). The trainer's fast paths are tested against these,
// and these are tested against central finite differences in fp64 (tests/train/test_grad_check.cpp).
//
//   si::ref::rmsnorm_forward<float>(y, rstd, x, w, N, C, eps);         // keeps rstd for backward
//   si::ref::rmsnorm_backward<float>(dx, dw, dy, x, w, rstd, N, C);      // dx, dw accumulate (+=)
//
// Conventions: N = B*T rows; C model width; H query heads, KV key/value heads, D head_dim; V vocab.
// Every backward ACCUMULATES into its gradient outputs (the residual stream and tied weights receive
// gradients from several places); callers zero them first. Templated on T = float or double; only
// those two are instantiated.
#pragma once

#include <cstdint>

namespace si::ref {

// out (N, C) = table[ids] ; table (V, C)
template <typename T> void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t N, int64_t C);
// dtable (V, C) += scatter of dout (N, C)
template <typename T> void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t N, int64_t C);

// y (N, C) = w * (x * rstd), rstd (N) = 1/sqrt(mean(x^2) + eps)   (HF LlamaRMSNorm order)
template <typename T> void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int64_t N, int64_t C, float eps);
// dx (N, C) +=, dw (C) += ; dw may be null (frozen norm weight)
template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t N, int64_t C);

// y (N, O) = x (N, I) W^T ; W (O, I) as torch.nn.Linear
template <typename T> void linear_forward(T* y, const T* x, const T* W, int64_t N, int64_t I, int64_t O);
// dx (N, I) += dy W ; dW (O, I) += dy^T x ; either may be null (not needed)
template <typename T> void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t I, int64_t O);

// Rotary embedding in place on x (B, T, nh, D) with HF rotate_half pairing (i, i + D/2);
// cos, sin (T, D/2) for positions 0..T-1 (see rope_tables in train/llama_train.h).
template <typename T> void rope_forward(T* x, const T* cos, const T* sin, int64_t B, int64_t T_, int64_t nh, int64_t D);
// The transpose rotation, in place on the gradient dx (B, T, nh, D).
template <typename T> void rope_backward(T* dx, const T* cos, const T* sin, int64_t B, int64_t T_, int64_t nh, int64_t D);

// Causal GQA attention: out (B, T, H*D) ; probs (B, H, T, T) saved (upper triangle zero);
// q (B, T, H*D), k/v (B, T, KV*D); query head h reads kv head h / (H / KV). Scale 1/sqrt(D).
template <typename T>
void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, int64_t B, int64_t T_, int64_t H, int64_t KV, int64_t D);
// dq, dk, dv += (B, T, ·) ; recomputes nothing: uses the saved probs
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k, const T* v,
                        int64_t B, int64_t T_, int64_t H, int64_t KV, int64_t D);

// out (N, F) = silu(gate) * up
template <typename T> void swiglu_forward(T* out, const T* gate, const T* up, int64_t N, int64_t F);
// dgate, dup (N, F) +=
template <typename T> void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t N, int64_t F);

// Mean cross-entropy over rows whose target >= 0 (prompt and padding rows carry -1).
// logits (N, V); returns the mean loss (0 when no row counts) and the counted rows in *n_valid.
// With `weights` (N) each counted row's loss is multiplied by its weight (the sum still divides by
// the counted rows).
template <typename T>
double cross_entropy_forward(const T* logits, const int32_t* targets, int64_t N, int64_t V, int64_t* n_valid,
                             const T* weights = nullptr);
// dlogits (N, V) = scale * weight * (softmax(logits) - onehot(target)) on counted rows, 0 elsewhere
// (scale = d loss / d mean, usually 1 / n_valid; weight 1 without `weights`). Overwrites.
template <typename T>
void cross_entropy_backward(T* dlogits, const T* logits, const int32_t* targets, int64_t N, int64_t V, double scale,
                            const T* weights = nullptr);

}  // namespace si::ref
