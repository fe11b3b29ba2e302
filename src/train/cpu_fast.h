// train/cpu_fast.h — the trainer's fast CPU kernels (ops/cpu/sgemm.h, si::ThreadPool). Each one
// computes what its ops/cpu/ref_backward.h counterpart computes (same accumulate-into-gradients
// contract) and is tested equal to it (tests/train/test_fast_path.cpp). The pool splits the work
// and every sgemm runs single-threaded in one pool task; pool may be null. The results depend on
// the CPU's ISA path (ops/cpu/isa.h) and the shapes, never on the thread count.
//
//   si::train::fast::linear_forward(&pool, y, x, W, N, I, O);   // y (N, O) = x (N, I) W^T (O, I)
#pragma once

#include <cstdint>
#include <functional>

namespace si {
class ThreadPool;
}

namespace si::train::fast {

// fn(begin, end) over the pool's ranges of [0, n); without a pool (or one thread), fn(0, n).
void split(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn);

void linear_forward(ThreadPool* pool, float* y, const float* x, const float* W, int64_t N, int64_t I, int64_t O);
// dx (N, I) += dy W ; dW (O, I) += dy^T x ; either may be null
void linear_backward(ThreadPool* pool, float* dx, float* dW, const float* dy, const float* x, const float* W, int64_t N, int64_t I, int64_t O);

// Causal GQA attention with sgemm per (batch, head), one pool task per (batch, kv head). The heads of
// a group run in order, so dk/dv of a shared kv head accumulate in the same order for any thread count.
void attention_forward(ThreadPool* pool, float* out, float* probs, const float* q, const float* k, const float* v, int64_t B,
                       int64_t T, int64_t H, int64_t KV, int64_t D);
void attention_backward(ThreadPool* pool, float* dq, float* dk, float* dv, const float* dout, const float* probs,
                        const float* q, const float* k, const float* v, int64_t B, int64_t T, int64_t H, int64_t KV,
                        int64_t D);

// Cross-entropy over rows of logits (M, V), rows split over the pool (targets < 0: no loss). Returns
// the mean over the valid rows of weight * (log-sum-exp - logit of the target) and their count in
// n_valid (either may be null: weights 1, count not wanted); writes each row's log-sum-exp to lse
// (M) for the backward pass. Per-row sums in double, like ref::cross_entropy_forward.
double cross_entropy_forward(ThreadPool* pool, const float* logits, const int32_t* targets, int64_t M, int64_t V,
                             const float* weights, double* lse, int64_t* n_valid);
// dlogits (M, V) := scale * weight * (softmax(row) - onehot(target)), from forward's lse; zero rows
// where target < 0.
void cross_entropy_backward(ThreadPool* pool, float* dlogits, const float* logits, const double* lse,
                            const int32_t* targets, int64_t M, int64_t V, double scale, const float* weights);

}  // namespace si::train::fast
