#include "model/cuda/llama_runner_cuda.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "ops/matmul.h"
#include "ops/rope.h"
#include "quant/gptq_checkpoint.h"

namespace si {
namespace {

constexpr int64_t kLogitRows = 64;  // rows of full-vocabulary logits per matmul (scratch size)
constexpr int64_t kHeadChunk = 8192;  // int8 LM head above the GEMV's rows: vocabulary rows dequantized per cuBLAS call

// Whether the runner made from `model` with `opt` runs its Linears in 4 bits.
bool runs_4bit(const LlamaModel& model, const CudaRunnerOptions& opt) {
  const GptqModelWeights* g = model.gptq();
  return g && g->quant().bits == 4 && opt.gptq_4bit;
}

// Any stored weight (F32/F16/BF16/quantized) to fp16 rows at `dst` on the device.
void upload_f16(const TensorView& w, void* dst, ThreadPool& pool, const cuda::Stream& s) {
  const int64_t R = w.rows(), K = w.cols();
  std::vector<uint16_t> h(size_t(R * K));
  pool.parallel_for(R, [&](int64_t b, int64_t e, int) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t r = b; r < e; ++r) {
      ops::weight_row_f32(w, r, row.data());
      for (int64_t k = 0; k < K; ++k) h[size_t(r * K + k)] = f32_to_f16(row[size_t(k)]);
    }
  });
  SI_CUDA_CHECK(cudaMemcpyAsync(dst, h.data(), h.size() * 2, cudaMemcpyHostToDevice, s.get()));
  s.sync();
}

// A GPTQ Linear kept packed on the host (8-bit, or 4-bit run as FP16) dequantized to fp16 rows at `dst`.
void upload_gptq_f16(const GptqView& v, GptqFormat f, void* dst, ThreadPool& pool, const cuda::Stream& s) {
  const int64_t R = v.layout.out, K = v.layout.in;
  std::vector<uint16_t> h(size_t(R * K));
  pool.parallel_for(R, [&](int64_t b, int64_t e, int) { gptq_dequantize_f16(v, f, b, e, h.data() + b * K); }, 16);
  SI_CUDA_CHECK(cudaMemcpyAsync(dst, h.data(), h.size() * 2, cudaMemcpyHostToDevice, s.get()));
  s.sync();
}

void upload_f32(const TensorView& w, void* dst, const cuda::Stream& s) {
  SI_CHECK(w.dtype == DType::F32, "cuda runner: norm weight must be F32, got {}", dtype_name(w.dtype));
  SI_CUDA_CHECK(cudaMemcpyAsync(dst, w.data, size_t(w.numel()) * 4, cudaMemcpyHostToDevice, s.get()));
  s.sync();
}

}  // namespace

CudaLlamaRunner::CudaLlamaRunner(const LlamaConfig& cfg, CudaRunnerOptions opt, bool interleaved, bool linears_4bit)
    : cfg_(cfg), opt_(opt), interleaved_(interleaved), slots_(opt.n_slots, opt.capacity, "cuda runner") {
  using Head = CudaRunnerOptions::Head;
  head_int8_ = opt.head == Head::int8 || (opt.head == Head::automatic && linears_4bit);
  // (Slots and capacity: slots_ checked them, constructed first.)
  SI_CHECK(opt.max_tokens > 0, "cuda runner: need max_tokens above 0, got {}", opt.max_tokens);
  SI_CHECK(opt.fp8_min_tokens >= 0, "cuda runner: fp8_min_tokens must be 0 (off) or more, got {}", opt.fp8_min_tokens);
  fp8_ = opt.fp8_min_tokens > 0 && !linears_4bit;
  SI_CHECK(cuda::available(), "cuda runner: no CUDA device");
  SI_CHECK(!fp8_ || cuda::compute_capability() >= 89,
           "cuda runner: FP8 matmuls (fp8_min_tokens {}) need a GPU of compute capability 8.9 or newer (Ada, "
           "Hopper); this one is {}: leave fp8_min_tokens at 0", opt.fp8_min_tokens, cuda::device_description());
  allocate();
}

CudaLlamaRunner::CudaLlamaRunner(const LlamaModel& model, CudaRunnerOptions opt)
    : CudaLlamaRunner(model.config(), opt, model.rope_pairing() == ops::RopePairing::Interleaved,
                      runs_4bit(model, opt)) {
  const LlamaWeights& w = model.weights();
  ThreadPool pool(int(std::max(1u, std::thread::hardware_concurrency())));
  const GptqModelWeights* g = model.gptq();
  if (runs_4bit(model, opt)) {
    const GptqFormat f = g->quant().format;
    upload_gptq([&](int l, int p) { return to_w4_view(g->linear(l, p), f); });
  } else {
    allocate_f16_linears();
    const bool packed = model.linears_packed_only();
    for (int l = 0; l < cfg_.n_layers; ++l) {
      const LlamaLayerWeights& lw = w.layers[size_t(l)];
      const Layer& d = layer_[size_t(l)];
      // Linear p (gptq_linear_prefix's order) into `dst`: from the F16/quantized view, or dequantized
      // here from the packed GPTQ tensors when the loader kept only those.
      const TensorView* views[kGptqLinears] = {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down};
      auto put = [&](int p, const void* dst, int64_t row0) {
        char* at = static_cast<char*>(const_cast<void*>(dst)) + row0 * views[p]->cols() * 2;
        if (packed) upload_gptq_f16(g->linear(l, p), g->quant().format, at, pool, stream_);
        else upload_f16(*views[p], at, pool, stream_);
      };
      const int64_t Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
      put(0, d.qkv.f16, 0);
      put(1, d.qkv.f16, Q);
      put(2, d.qkv.f16, Q + KV);
      put(3, d.o.f16, 0);
      put(4, d.gu.f16, 0);
      put(5, d.gu.f16, F);
      put(6, d.down.f16, 0);
    }
    make_fp8_linears();
  }
  for (int l = 0; l < cfg_.n_layers; ++l) {
    upload_f32(w.layers[size_t(l)].attn_norm, const_cast<float*>(layer_[size_t(l)].attn_norm), stream_);
    upload_f32(w.layers[size_t(l)].ffn_norm, const_cast<float*>(layer_[size_t(l)].ffn_norm), stream_);
  }
  put_table(false, [&](void* d) { upload_f16(w.tok_embd, d, pool, stream_); });
  if (!cfg_.tie_word_embeddings) put_table(true, [&](void* d) { upload_f16(w.output, d, pool, stream_); });
  upload_f32(w.output_norm, const_cast<float*>(output_norm_), stream_);
  const std::vector<float>& inv = model.rope_inv_freq();
  SI_CUDA_CHECK(cudaMemcpy(const_cast<float*>(inv_freq_), inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
  allocate_scratch();
}

void CudaLlamaRunner::put_table(bool output, const std::function<void(void* f16_rows)>& fill) {
  if (!head_int8_) {
    fill(const_cast<void*>(output ? output_ : tok_embd_));
    return;
  }
  const int64_t V = cfg_.vocab_size, C = cfg_.hidden_size;
  const cuda::W8Weight& w = output ? out8_ : embd8_;
  cuda::DeviceBuffer f16(size_t(V * C) * 2, "embedding (fp16, before int8)");
  fill(f16.data());
  cuda::w8_quantize(DType::F16, f16.data(), V, C, const_cast<int8_t*>(w.q), const_cast<float*>(w.scale),
                    stream_.get());
  stream_.sync();  // before the fp16 copy is freed
}

// Random non-Linear weights (uniform, std 0.02; norms near 1) on the device, as random() makes them.
void CudaLlamaRunner::fill_random_rest(uint64_t& k, const std::vector<const float*>& norms) {
  const int64_t C = cfg_.hidden_size, V = cfg_.vocab_size;
  const cudaStream_t s = stream_.get();
  for (const float* n : norms) cuda::fill_random(DType::F32, const_cast<float*>(n), C, ++k, 0.02f, 1.0f, s);
  put_table(false, [&](void* d) { cuda::fill_random(DType::F16, d, V * C, ++k, 0.02f, 0.0f, s); });
  if (!cfg_.tie_word_embeddings)
    put_table(true, [&](void* d) { cuda::fill_random(DType::F16, d, V * C, ++k, 0.02f, 0.0f, s); });
  cuda::fill_random(DType::F32, const_cast<float*>(output_norm_), C, ++k, 0.02f, 1.0f, s);
  const std::vector<float> inv = ops::rope_inv_freq(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling);
  SI_CUDA_CHECK(cudaMemcpy(const_cast<float*>(inv_freq_), inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
}

std::unique_ptr<CudaLlamaRunner> CudaLlamaRunner::random(const LlamaConfig& cfg, uint64_t seed, CudaRunnerOptions opt) {
  std::unique_ptr<CudaLlamaRunner> r(new CudaLlamaRunner(cfg, opt, false, false));
  r->allocate_f16_linears();
  const cudaStream_t s = r->stream_.get();
  uint64_t k = seed * 1000;
  std::vector<const float*> norms;
  for (Layer& d : r->layer_) {
    norms.push_back(d.attn_norm);
    norms.push_back(d.ffn_norm);
    for (const CudaLinear* w : {&d.qkv, &d.o, &d.gu, &d.down})
      cuda::fill_random(DType::F16, const_cast<void*>(w->f16), w->N * w->K, ++k, 0.02f, 0.0f, s);
  }
  r->make_fp8_linears();
  r->fill_random_rest(k, norms);
  r->stream_.sync();
  return r;
}

std::unique_ptr<CudaLlamaRunner> CudaLlamaRunner::random_gptq(const LlamaConfig& cfg, uint64_t seed,
                                                              CudaRunnerOptions opt,
                                                              const GptqLayerSource& layer_linears) {
  std::unique_ptr<CudaLlamaRunner> r(new CudaLlamaRunner(cfg, opt, false, true));
  std::vector<GptqPacked> cur;  // the layer being uploaded (upload_gptq asks layer by layer)
  int cur_layer = -1;
  r->upload_gptq([&](int l, int p) {
    if (l != cur_layer) {
      cur = layer_linears(l);
      cur_layer = l;
      SI_CHECK(cur.size() == size_t(kGptqLinears), "random_gptq: layer {} has {} Linears, expected {}", l, cur.size(),
               kGptqLinears);
    }
    return to_w4_view(cur[size_t(p)].view(), GptqFormat::v1);
  });
  uint64_t k = seed * 1000;
  std::vector<const float*> norms;
  for (Layer& d : r->layer_) {
    norms.push_back(d.attn_norm);
    norms.push_back(d.ffn_norm);
  }
  r->fill_random_rest(k, norms);
  r->allocate_scratch();
  r->stream_.sync();
  return r;
}

CudaLlamaRunner::~CudaLlamaRunner() {
  for (auto& [t, g] : graphs_) cudaGraphExecDestroy(g);
  if (staging_) cudaFreeHost(staging_);
  if (next_host_) cudaFreeHost(next_host_);
  if (sel_host_) cudaFreeHost(sel_host_);
  if (staged_) cudaEventDestroy(staged_);
}

void CudaLlamaRunner::allocate() {
  const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
  const int64_t V = cfg_.vocab_size, T = opt_.max_tokens;
  layer_.resize(size_t(cfg_.n_layers));
  for (Layer& d : layer_) {
    d.attn_norm = weights_.alloc<float>(size_t(C));
    d.ffn_norm = weights_.alloc<float>(size_t(C));
  }
  if (head_int8_) {
    auto table = [&] {
      return cuda::W8Weight{V, C, weights_.alloc<int8_t>(size_t(V * C)), weights_.alloc<float>(size_t(V))};
    };
    embd8_ = table();
    out8_ = cfg_.tie_word_embeddings ? embd8_ : table();
  } else {
    tok_embd_ = weights_.alloc<uint16_t>(size_t(V * C));
    output_ = cfg_.tie_word_embeddings ? tok_embd_ : weights_.alloc<uint16_t>(size_t(V * C));
  }
  output_norm_ = weights_.alloc<float>(size_t(C));
  inv_freq_ = weights_.alloc<float>(size_t(cfg_.head_dim / 2));
  kv_base_ = kv_.alloc<uint16_t>(size_t(cfg_.n_layers) * 2 * size_t(opt_.n_slots) * size_t(KV) * size_t(opt_.capacity));
  x_ = act_.alloc<float>(size_t(T * C));
  xn_ = act_.alloc<uint16_t>(size_t(T * C));
  qkv_ = act_.alloc<uint16_t>(size_t(T * (Q + 2 * KV)));
  att_ = act_.alloc<uint16_t>(size_t(T * Q));
  gu_ = act_.alloc<uint16_t>(size_t(T * 2 * F));
  h_ = act_.alloc<uint16_t>(size_t(T * F));
  if (fp8_) {
    // e4m3 matmul inputs of up to max(C, Q, F) values a token live in h_ (2F bytes a token).
    SI_CHECK(C <= 2 * F && Q <= 2 * F, "cuda runner: FP8 inputs do not fit the SwiGLU buffer (C {}, Q {}, F {})", C, Q,
             F);
    xs_ = act_.alloc<float>(size_t(T));
  }
  hid_ = act_.alloc<float>(size_t(T * C));
  hid16_ = act_.alloc<uint16_t>(size_t(T * C));
  max_out_ = kLogitRows;
  logits_ = act_.alloc<float>(size_t(max_out_ * V));
  if (head_int8_) {
    head_w16_ = act_.alloc<uint16_t>(size_t(std::min(V, kHeadChunk) * C));
    head_y_ = act_.alloc<float>(size_t(max_out_ * std::min(V, kHeadChunk)));
  }
  d_sel_ = act_.alloc<int32_t>(size_t(2 * V));  // vocabulary rows, then (logits_pairs) hidden rows
  SI_CUDA_CHECK(cudaMallocHost(&sel_host_, size_t(2 * V) * sizeof(int32_t)));
  d_next_ = act_.alloc<int32_t>(size_t(T));
  argmax_work_ = act_.alloc_bytes(cuda::argmax_work_bytes(max_out_));
  SI_CUDA_CHECK(cudaMemset(argmax_work_, 0, cuda::argmax_work_bytes(max_out_)));
  SI_CUDA_CHECK(cudaMallocHost(&next_host_, size_t(T) * sizeof(int32_t)));
  // ids | pos | rows | meta | attention chunks: one block on each side, one copy per forward.
  staging_bytes_ = size_t(T) * (3 * sizeof(int32_t) + sizeof(cuda::TokenMeta)) + size_t(T + 2) * sizeof(int32_t);
  char* dev = static_cast<char*>(act_.alloc_bytes(staging_bytes_));
  d_ids_ = reinterpret_cast<int32_t*>(dev);
  d_pos_ = d_ids_ + T;
  d_rows_ = d_pos_ + T;
  d_meta_ = reinterpret_cast<cuda::TokenMeta*>(d_rows_ + T);
  d_chunks_ = reinterpret_cast<int32_t*>(d_meta_ + T);
  attn_chunk_tokens_ =
      opt_.mma_attention ? cuda::attention_mma_chunk_tokens(DType::F16, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim) : 0;
  SI_CUDA_CHECK(cudaMallocHost(&staging_, staging_bytes_));
  SI_CUDA_CHECK(cudaEventCreateWithFlags(&staged_, cudaEventDisableTiming));
}

void CudaLlamaRunner::allocate_f16_linears() {
  const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
  const size_t before = weights_.bytes_used();
  auto make = [&](CudaLinear& w, int64_t N, int64_t K) {
    w.N = N;
    w.K = K;
    w.f16 = weights_.alloc<uint16_t>(size_t(N * K));
  };
  for (Layer& d : layer_) {
    make(d.qkv, Q + 2 * KV, C);
    make(d.o, C, Q);
    make(d.gu, 2 * F, C);
    make(d.down, C, F);
  }
  linear_bytes_ = weights_.bytes_used() - before;
}

void CudaLlamaRunner::make_fp8_linears() {
  if (!fp8_) return;
  const size_t before = weights_.bytes_used();
  for (Layer& d : layer_)
    for (CudaLinear* w : {&d.qkv, &d.o, &d.gu, &d.down}) {
      void* q = weights_.alloc<uint8_t>(size_t(w->N * w->K));
      float* scale = weights_.alloc<float>(size_t(w->N));
      cuda::fp8_quantize_rows(DType::F16, w->f16, w->N, w->K, q, scale, stream_.get());
      w->f8 = cuda::Fp8Rows{q, scale};
    }
  linear_bytes_ += weights_.bytes_used() - before;
}

void CudaLlamaRunner::upload_gptq(const std::function<cuda::GptqView(int layer, int proj)>& linear) {
  const size_t before = weights_.bytes_used();
  for (int l = 0; l < cfg_.n_layers; ++l) {
    Layer& d = layer_[size_t(l)];
    cuda::GptqView v[kGptqLinears];
    for (int p = 0; p < kGptqLinears; ++p) v[p] = linear(l, p);
    d.qkv = CudaLinear::gptq(std::span<const cuda::GptqView>(v, 3), weights_, stream_);
    d.o = CudaLinear::gptq(std::span<const cuda::GptqView>(v + 3, 1), weights_, stream_);
    d.gu = CudaLinear::gptq(std::span<const cuda::GptqView>(v + 4, 2), weights_, stream_);
    d.down = CudaLinear::gptq(std::span<const cuda::GptqView>(v + 6, 1), weights_, stream_);
    const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
    SI_CHECK(d.qkv.N == Q + 2 * KV && d.qkv.K == C && d.o.N == C && d.o.K == Q && d.gu.N == 2 * F && d.gu.K == C &&
             d.down.N == C && d.down.K == F, "cuda runner: layer {}'s GPTQ Linears do not have the config's shapes", l);
  }
  linear_bytes_ = weights_.bytes_used() - before;
}

void CudaLlamaRunner::allocate_scratch() {
  int64_t max_k = 0, max_wn = 0, max_yn = 0;
  bool perm = false;
  for (const Layer& d : layer_)
    for (const CudaLinear* w : {&d.qkv, &d.o, &d.gu, &d.down}) {
      if (!w->is_4bit()) continue;
      max_k = std::max(max_k, w->K);
      max_wn = std::max(max_wn, w->max_part_n() * w->K);
      if (w->parts.size() > 1) max_yn = std::max(max_yn, w->max_part_n());
      perm = perm || w->needs_perm();
    }
  const int64_t T = opt_.max_tokens;
  if (perm) scratch_.x_perm = act_.alloc_bytes(size_t(T * max_k) * 2);
  const int64_t w4_rows = std::min<int64_t>(opt_.w4_max_rows, kW4MaxRows);
  if (T > w4_rows && max_wn > 0) scratch_.w_f16 = act_.alloc_bytes(size_t(max_wn) * 2);
  if (T > w4_rows && max_yn > 0) scratch_.y_part = act_.alloc_bytes(size_t(T * max_yn) * 4);
}

int CudaLlamaRunner::linears_4bit() const {
  int n = 0;
  for (const Layer& d : layer_)
    for (const CudaLinear* w : {&d.qkv, &d.o, &d.gu, &d.down}) n += w->is_4bit();
  return n;
}

cuda::KvLayer CudaLlamaRunner::kv_layer(int l) const {
  const size_t layer_elems = size_t(opt_.n_slots) * size_t(cfg_.kv_dim()) * size_t(opt_.capacity);
  auto* base = static_cast<uint16_t*>(kv_base_) + size_t(l) * 2 * layer_elems;
  return cuda::KvLayer{base, base + layer_elems, DType::F16, cfg_.n_kv_heads, cfg_.head_dim, opt_.capacity};
}

void CudaLlamaRunner::layers(int64_t T) {
  const cudaStream_t s = stream_.get();
  const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
  const int H = cfg_.n_heads;
  const int64_t ldqkv = Q + 2 * KV;
  const DType h16 = DType::F16;
  auto* qkv = static_cast<uint16_t*>(qkv_);
  if (head_int8_) cuda::w8_embedding(embd8_, d_ids_, T, DType::F32, x_, s);
  else cuda::embedding(h16, tok_embd_, C, d_ids_, T, DType::F32, x_, s);
  const float eps = cfg_.rms_norm_eps;
  // A large pass with e4m3 Linears (fp8_min_tokens): each matmul's input is made as e4m3 rows
  // in h_ (scales in xs_) by the op before it instead of fp16 rows.
  const bool f8 = fp8_ && T >= opt_.fp8_min_tokens;
  const cuda::Fp8Rows xq{h_, xs_};
  auto norm = [&](const float* g) {
    if (f8) cuda::rms_norm_fp8(x_, g, eps, h_, xs_, T, C, s);
    else cuda::rms_norm(DType::F32, x_, g, eps, h16, xn_, T, C, s);
  };
  // y (T, N) (+)= input x16 (T, K) fp16, or xq on the FP8 path, times w^T.
  auto matmul = [&](const void* x16, const CudaLinear& w, DType y_t, void* y, bool accumulate) {
    if (f8) blas_.matmul_fp8(xq, T, w.K, w.f8, w.N, y_t, y, accumulate, opt_.fp8_fast_accum, s);
    else mm(x16, T, w, y_t, y, accumulate);
  };
  for (int l = 0; l < cfg_.n_layers; ++l) {
    const Layer& w = layer_[size_t(l)];
    const cuda::KvLayer kv = kv_layer(l);
    norm(w.attn_norm);
    matmul(xn_, w.qkv, h16, qkv, false);
    // q and k heads rotated and this batch's keys/values stored first (tokens of one sequence
    // attend to each other), in one launch.
    cuda::rope_kv_store(h16, qkv, ldqkv, inv_freq_, T, H, kv, d_meta_, interleaved_, s);
    if (attn_chunk_tokens_ > 0) cuda::attention_mma(qkv, ldqkv, att_, Q, T, H, kv, d_meta_, d_chunks_, s);
    else cuda::attention(h16, qkv, ldqkv, att_, Q, T, H, kv, d_meta_, s);
    if (f8) cuda::fp8_quantize_rows(h16, att_, T, Q, h_, xs_, s);
    matmul(att_, w.o, DType::F32, x_, true);  // x += att Wo^T
    norm(w.ffn_norm);
    if (!f8 && T == 1 && !w.gu.is_4bit() && cuda::gemv_fits(h16, 1, C)) {
      // One token, FP16: SwiGLU in the gate|up GEMV's epilogue (bitwise the two kernels below).
      cuda::gemv_swiglu_out(h16, xn_, 1, C, w.gu.f16, F, h_, s);
    } else {
      matmul(xn_, w.gu, h16, gu_, false);
      auto* up = static_cast<uint16_t*>(gu_) + F;
      if (f8) cuda::swiglu_fp8(h16, gu_, up, 2 * F, h_, xs_, T, F, s);
      else cuda::swiglu(h16, gu_, up, 2 * F, h_, T, F, s);
    }
    matmul(h_, w.down, DType::F32, x_, true);  // x += h Wdown^T
  }
}

void CudaLlamaRunner::mm(const void* x, int64_t M, const CudaLinear& w, DType y_t, void* y, bool accumulate) {
  linear_matmul(w, x, M, y_t, y, accumulate, blas_, scratch_, stream_.get(), opt_.w4_max_rows);
}

void CudaLlamaRunner::mm_f16(const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y) {
  CudaLinear head;
  head.N = N;
  head.K = K;
  head.f16 = w;
  linear_matmul(head, x, M, y_t, y, false, blas_, scratch_, stream_.get());
}

void CudaLlamaRunner::head_logits(const void* h, int64_t m, float* y) {
  const int64_t C = cfg_.hidden_size, V = cfg_.vocab_size;
  if (!head_int8_) {
    mm_f16(h, m, C, output_, V, DType::F32, y);
    return;
  }
  const cudaStream_t s = stream_.get();
  if (cuda::w8_gemv_fits(m, C)) {
    cuda::w8_gemv(h, m, out8_, y, s);
    return;
  }
  // More rows than the GEMV takes (large batched greedy steps, eval): chunks of vocabulary rows
  // dequantized to fp16 for cuBLAS (compute-bound there, as the 4-bit Linears above 64 rows),
  // each chunk's (m, n) logits then copied into its columns of y.
  const int64_t chunk = std::min(V, kHeadChunk);
  for (int64_t v0 = 0; v0 < V; v0 += chunk) {
    const int64_t n = std::min(chunk, V - v0);
    cuda::w8_dequantize(out8_, v0, n, head_w16_, s);
    blas_.matmul(DType::F16, h, m, C, head_w16_, n, DType::F32, head_y_, false, s);
    SI_CUDA_CHECK(cudaMemcpy2DAsync(y + v0, size_t(V) * 4, head_y_, size_t(n) * 4, size_t(n) * 4, size_t(m),
                                    cudaMemcpyDeviceToDevice, s));
  }
}

void CudaLlamaRunner::greedy_head(int64_t n_out) {
  const cudaStream_t s = stream_.get();
  const int64_t C = cfg_.hidden_size, V = cfg_.vocab_size;
  cuda::rms_norm_rows(DType::F32, x_, d_rows_, n_out, output_norm_, cfg_.rms_norm_eps, DType::F16, hid16_, C, s);
  const auto* h16 = static_cast<const uint16_t*>(hid16_);
  for (int64_t m0 = 0; m0 < n_out; m0 += max_out_) {
    const int64_t m = std::min(max_out_, n_out - m0);
    head_logits(h16 + m0 * C, m, logits_);  // (m, V)
    cuda::argmax_rows(logits_, m, V, d_next_ + m0, argmax_work_, s);
  }
}

void CudaLlamaRunner::stage(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                            std::span<const int32_t> pos, std::span<const int32_t> out_rows) {
  const int64_t T = int64_t(tokens.size());
  SI_CHECK(T > 0, "forward: empty batch");
  SI_CHECK(T <= opt_.max_tokens, "forward: {} tokens exceed the runner's max_tokens {}", T, opt_.max_tokens);
  SI_CHECK(int64_t(slots.size()) == T && int64_t(pos.size()) == T, "forward: {} tokens but {} slots and {} positions",
           T, slots.size(), pos.size());
  const int64_t n_out = int64_t(out_rows.size());
  SI_CHECK(n_out <= T, "forward: {} output rows for {} tokens", n_out, T);
  // The staging buffer may still be read by the previous batch's copy (not by its kernels: the
  // host may fill the next batch while the GPU runs this one).
  SI_CUDA_CHECK(cudaEventSynchronize(staged_));
  auto* ids = static_cast<int32_t*>(staging_);
  int32_t* p = ids + opt_.max_tokens;
  int32_t* rows = p + opt_.max_tokens;
  auto* meta = reinterpret_cast<cuda::TokenMeta*>(rows + opt_.max_tokens);
  for (int64_t t = 0; t < T; ++t) {
    const int32_t s = slots[size_t(t)], ps = pos[size_t(t)], id = tokens[size_t(t)];
    SI_CHECK(ps >= 0 && ps < opt_.capacity && s >= 0 && s < opt_.n_slots,
             "forward: token {} at slot {} position {} outside the cache ({} slots of {} positions)", t, s, ps,
             opt_.n_slots, opt_.capacity);
    SI_CHECK(id >= 0 && id < cfg_.vocab_size, "forward: token id {} at position {} outside the vocabulary [0, {})", id,
             t, cfg_.vocab_size);
    ids[t] = id;
    p[t] = ps;
    const int pre = slots_.prefix_slot(s);
    meta[t] = cuda::TokenMeta{s, ps, pre >= 0 ? pre : s, pre >= 0 ? slots_.prefix_len(s) : 0};
  }
  if (attn_chunk_tokens_ > 0) cuda::attention_chunks(meta, T, attn_chunk_tokens_, reinterpret_cast<int32_t*>(meta + opt_.max_tokens));
  for (int64_t i = 0; i < n_out; ++i) {
    SI_CHECK(out_rows[size_t(i)] >= 0 && out_rows[size_t(i)] < T, "forward: output row {} outside the batch of {}",
             out_rows[size_t(i)], T);
    rows[i] = out_rows[size_t(i)];
  }
  const cudaStream_t st = stream_.get();
  SI_CUDA_CHECK(cudaMemcpyAsync(d_ids_, staging_, staging_bytes_, cudaMemcpyHostToDevice, st));
  SI_CUDA_CHECK(cudaEventRecord(staged_, st));
}

void CudaLlamaRunner::execute(int64_t T, int64_t n_out, bool greedy) {
  const cudaStream_t st = stream_.get();
  const auto body = [&] {
    layers(T);
    if (greedy) greedy_head(n_out);
  };
  if (opt_.graphs && T <= opt_.graph_max_tokens) {
    const std::pair<int64_t, int64_t> key{T, greedy ? n_out : 0};
    auto it = graphs_.find(key);
    if (it == graphs_.end() && seen_[key]++ > 0) {
      // Second pass of this shape: cuBLAS plans exist, capture the work once and keep it.
      cudaGraph_t g;
      SI_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
      body();
      SI_CUDA_CHECK(cudaStreamEndCapture(st, &g));
      cudaGraphExec_t e;
      SI_CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
      cudaGraphDestroy(g);
      it = graphs_.emplace(key, e).first;
    }
    if (it != graphs_.end()) SI_CUDA_CHECK(cudaGraphLaunch(it->second, st));
    else body();
  } else {
    body();
  }
}

void CudaLlamaRunner::run(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                          std::span<const int32_t> pos, std::span<const int32_t> out_rows, bool greedy) {
  stage(tokens, slots, pos, out_rows);
  execute(int64_t(tokens.size()), int64_t(out_rows.size()), greedy);
  for (size_t t = 0; t < tokens.size(); ++t)
    slots_.set_length(slots[t], std::max(slots_.length(slots[t]), pos[t] + 1));
}

void CudaLlamaRunner::forward(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                              std::span<const int32_t> pos, std::span<const int32_t> out_rows, float* hidden) {
  run(tokens, slots, pos, out_rows, false);
  const int64_t n_out = int64_t(out_rows.size());
  if (n_out == 0 || !hidden) return;
  const cudaStream_t st = stream_.get();
  const int64_t C = cfg_.hidden_size;
  cuda::rms_norm_rows(DType::F32, x_, d_rows_, n_out, output_norm_, cfg_.rms_norm_eps, DType::F32, hid_, C, st);
  SI_CUDA_CHECK(cudaMemcpyAsync(hidden, hid_, size_t(n_out * C) * 4, cudaMemcpyDeviceToHost, st));
  stream_.sync();
}

void CudaLlamaRunner::forward_greedy(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                                     std::span<const int32_t> pos, std::span<const int32_t> out_rows, int32_t* next) {
  const int64_t n_out = int64_t(out_rows.size());
  SI_CHECK(n_out > 0, "forward_greedy: no output rows");
  run(tokens, slots, pos, out_rows, true);
  SI_CUDA_CHECK(cudaMemcpyAsync(next_host_, d_next_, size_t(n_out) * 4, cudaMemcpyDeviceToHost, stream_.get()));
  stream_.sync();
  std::copy(next_host_, next_host_ + n_out, next);
}

void CudaLlamaRunner::flatten(std::span<const Append> batch, std::vector<int32_t>* tokens, std::vector<int32_t>* slots,
                              std::vector<int32_t>* pos, std::vector<int32_t>* out_rows) const {
  for (const Append& a : batch) {
    SI_CHECK(a.n_tokens >= 1, "append: slot {} gets {} tokens, need at least 1", a.slot, a.n_tokens);
    const int start = length(a.slot);
    SI_CHECK(start + a.n_tokens <= opt_.capacity, "append: slot {} holds {} tokens, {} more exceed its capacity {}",
             a.slot, start, a.n_tokens, opt_.capacity);
    for (int i = 0; i < a.n_tokens; ++i) {
      tokens->push_back(a.tokens[i]);
      slots->push_back(a.slot);
      pos->push_back(start + i);
    }
    out_rows->push_back(int32_t(tokens->size()) - 1);
  }
}

void CudaLlamaRunner::append(std::span<const Append> batch, float* hidden) {
  std::vector<int32_t> tokens, slots, pos, out_rows;
  flatten(batch, &tokens, &slots, &pos, &out_rows);
  forward(tokens, slots, pos, hidden ? std::span<const int32_t>(out_rows) : std::span<const int32_t>(), hidden);
}

void CudaLlamaRunner::append_greedy(std::span<const Append> batch, int32_t* next) {
  std::vector<int32_t> tokens, slots, pos, out_rows;
  flatten(batch, &tokens, &slots, &pos, &out_rows);
  forward_greedy(tokens, slots, pos, out_rows, next);
}

void CudaLlamaRunner::generate_greedy(std::span<const Append> batch, int n_new, int32_t* out) {
  SI_CHECK(n_new >= 1, "generate: {} new tokens asked for, need at least 1", n_new);
  const int64_t B = int64_t(batch.size());
  std::vector<bool> used(size_t(opt_.n_slots), false);
  for (const Append& a : batch) {
    const size_t s = slots_.check(a.slot);
    SI_CHECK(!used[s], "generate: slot {} appears twice in one batch", a.slot);
    used[s] = true;
    SI_CHECK(a.n_tokens >= 1 && length(a.slot) + a.n_tokens + n_new - 1 <= opt_.capacity,
             "generate: slot {} holds {} tokens; {} more and {} generated exceed its capacity {}", a.slot,
             length(a.slot), a.n_tokens, n_new - 1, opt_.capacity);
  }
  SI_CHECK(B <= opt_.max_tokens, "generate: {} sequences exceed the runner's max_tokens {}", B, opt_.max_tokens);
  if (gen_.bytes() < size_t(B * n_new) * sizeof(int32_t))
    gen_ = cuda::DeviceBuffer(size_t(B * n_new) * sizeof(int32_t), "generated tokens");
  std::vector<int32_t> tokens, slots, pos, out_rows;
  flatten(batch, &tokens, &slots, &pos, &out_rows);
  run(tokens, slots, pos, out_rows, true);  // the first new token of each sequence
  const cudaStream_t st = stream_.get();
  auto* gen = gen_.as<int32_t>();
  if (n_new > 1) {
    // Every later step is one token per sequence at the position after its last; the tokens come
    // from the step before on the device, so the host never waits between steps.
    std::vector<int32_t> step_slots, step_pos, step_rows;
    for (int64_t b = 0; b < B; ++b) {
      const int slot = batch[size_t(b)].slot;
      step_slots.push_back(slot);
      step_pos.push_back(slots_.length(slot));
      step_rows.push_back(int32_t(b));
    }
    const std::vector<int32_t> placeholder(size_t(B), 0);  // replaced by greedy_feed
    stage(placeholder, step_slots, step_pos, step_rows);
    for (int i = 1; i < n_new; ++i) {
      cuda::greedy_feed(d_next_, B, gen, n_new, i - 1, d_ids_, d_pos_, d_meta_, /*advance=*/i > 1, st);
      execute(B, B, true);
    }
    for (const int32_t slot : step_slots) slots_.set_length(slot, slots_.length(slot) + n_new - 1);
  }
  cuda::greedy_feed(d_next_, B, gen, n_new, n_new - 1, nullptr, nullptr, nullptr, false, st);
  SI_CUDA_CHECK(cudaMemcpyAsync(out, gen, size_t(B * n_new) * sizeof(int32_t), cudaMemcpyDeviceToHost, st));
  stream_.sync();
}

void CudaLlamaRunner::logits(const float* hidden, int64_t n, std::span<const int32_t> rows, float* out) {
  const int64_t C = cfg_.hidden_size, V = cfg_.vocab_size;
  SI_CHECK(n >= 0 && n <= opt_.max_tokens, "logits: {} hidden rows exceed max_tokens {}", n, opt_.max_tokens);
  if (n == 0) return;
  const cudaStream_t st = stream_.get();
  SI_CUDA_CHECK(cudaMemcpyAsync(hid_, hidden, size_t(n * C) * 4, cudaMemcpyHostToDevice, st));
  cuda::convert(DType::F32, hid_, DType::F16, hid16_, n * C, st);
  const auto* h16 = static_cast<const uint16_t*>(hid16_);
  if (rows.empty()) {
    for (int64_t m0 = 0; m0 < n; m0 += max_out_) {
      const int64_t m = std::min(max_out_, n - m0);
      head_logits(h16 + m0 * C, m, logits_);
      SI_CUDA_CHECK(cudaMemcpyAsync(out + m0 * V, logits_, size_t(m * V) * 4, cudaMemcpyDeviceToHost, st));
      stream_.sync();
    }
    return;
  }
  const int64_t R = int64_t(rows.size());
  SI_CHECK(R <= V, "logits: {} rows asked for, the vocabulary has {}", R, V);
  for (size_t i = 0; i < rows.size(); ++i)
    SI_CHECK(rows[i] >= 0 && rows[i] < V, "logits: row {} (index {}) outside the vocabulary of {}", rows[i], i, V);
  SI_CUDA_CHECK(cudaMemcpyAsync(d_sel_, rows.data(), size_t(R) * 4, cudaMemcpyHostToDevice, st));
  const int64_t per = std::max<int64_t>(1, max_out_ * V / R);  // hidden rows per pass through the scratch
  for (int64_t m0 = 0; m0 < n; m0 += per) {
    const int64_t m = std::min(per, n - m0);
    if (head_int8_) cuda::w8_matmul_rows(h16 + m0 * C, m, out8_, d_sel_, R, logits_, st);
    else cuda::matmul_rows(DType::F16, h16 + m0 * C, m, C, output_, d_sel_, R, logits_, st);
    SI_CUDA_CHECK(cudaMemcpyAsync(out + m0 * R, logits_, size_t(m * R) * 4, cudaMemcpyDeviceToHost, st));
  }
  stream_.sync();
}

void CudaLlamaRunner::logits_pairs(const float* hidden, int64_t n_hidden, std::span<const int32_t> hidden_rows,
                                   std::span<const int32_t> vocab_rows, float* out) {
  const int64_t C = cfg_.hidden_size, V = cfg_.vocab_size, R = int64_t(vocab_rows.size());
  SI_CHECK(n_hidden >= 0 && n_hidden <= opt_.max_tokens, "logits: {} hidden rows exceed max_tokens {}", n_hidden,
           opt_.max_tokens);
  SI_CHECK(hidden_rows.size() == vocab_rows.size(), "logits: {} hidden rows for {} vocabulary rows",
           hidden_rows.size(), vocab_rows.size());
  if (R == 0) return;
  for (int64_t i = 0; i < R; ++i) {
    SI_CHECK(vocab_rows[size_t(i)] >= 0 && vocab_rows[size_t(i)] < V,
             "logits: row {} (index {}) outside the vocabulary of {}", vocab_rows[size_t(i)], i, V);
    SI_CHECK(hidden_rows[size_t(i)] >= 0 && hidden_rows[size_t(i)] < n_hidden,
             "logits: hidden row {} (index {}) outside the {} given", hidden_rows[size_t(i)], i, n_hidden);
  }
  const cudaStream_t st = stream_.get();
  SI_CUDA_CHECK(cudaMemcpyAsync(hid_, hidden, size_t(n_hidden * C) * 4, cudaMemcpyHostToDevice, st));
  cuda::convert(DType::F32, hid_, DType::F16, hid16_, n_hidden * C, st);
  // Up to V pairs per pass (the index buffers' size): one index upload, one launch, one download.
  for (int64_t r0 = 0; r0 < R; r0 += V) {
    const int64_t m = std::min(V, R - r0);
    if (r0 > 0) stream_.sync();  // the pinned indices of the previous pass may still be in flight
    std::copy_n(vocab_rows.data() + r0, m, sel_host_);
    std::copy_n(hidden_rows.data() + r0, m, sel_host_ + m);
    SI_CUDA_CHECK(cudaMemcpyAsync(d_sel_, sel_host_, size_t(2 * m) * 4, cudaMemcpyHostToDevice, st));
    if (head_int8_) cuda::w8_matmul_pairs(hid16_, out8_, d_sel_ + m, d_sel_, m, logits_, st);
    else cuda::matmul_pairs(DType::F16, hid16_, C, output_, d_sel_ + m, d_sel_, m, logits_, st);
    SI_CUDA_CHECK(cudaMemcpyAsync(out + r0, logits_, size_t(m) * 4, cudaMemcpyDeviceToHost, st));
  }
  stream_.sync();
}

std::vector<float> CudaLlamaRunner::eval(int slot, std::span<const int32_t> ids) {
  const int64_t T = int64_t(ids.size());
  const int start = length(slot);
  SI_CHECK(start + T <= opt_.capacity, "eval: slot {} holds {} tokens, {} more exceed its capacity {}", slot, start, T,
           opt_.capacity);
  std::vector<int32_t> slots(static_cast<size_t>(T), slot), pos(static_cast<size_t>(T)), rows(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    pos[size_t(t)] = int32_t(start + t);
    rows[size_t(t)] = int32_t(t);
  }
  std::vector<float> hidden(size_t(T * cfg_.hidden_size)), out(size_t(T) * size_t(cfg_.vocab_size));
  forward(ids, slots, pos, rows, hidden.data());
  logits(hidden.data(), T, {}, out.data());
  return out;
}

void CudaLlamaRunner::copy_slot(int src, int dst, int n_tokens) {
  const SlotCopy c = slots_.copy(src, dst, n_tokens);
  if (c.in_place) return;
  const size_t D = size_t(cfg_.head_dim), cap = size_t(opt_.capacity), KVH = size_t(cfg_.n_kv_heads);
  const size_t pitch = cap * D * 2, slot_bytes = KVH * pitch;
  for (int l = 0; l < cfg_.n_layers; ++l) {
    const cuda::KvLayer kv = kv_layer(l);
    for (void* base : {kv.k, kv.v}) {
      char* b = static_cast<char*>(base);
      // Positions [0, n_prefix) from the prefix slot (unless dst is that slot: already there), the
      // rest from src itself; one row per kv head.
      if (c.n_prefix > 0 && c.prefix_slot != dst)
        SI_CUDA_CHECK(cudaMemcpy2DAsync(b + size_t(dst) * slot_bytes, pitch, b + size_t(c.prefix_slot) * slot_bytes,
                                        pitch, size_t(c.n_prefix) * D * 2, KVH, cudaMemcpyDeviceToDevice,
                                        stream_.get()));
      if (n_tokens > c.n_prefix)
        SI_CUDA_CHECK(cudaMemcpy2DAsync(b + size_t(dst) * slot_bytes + size_t(c.n_prefix) * D * 2, pitch,
                                        b + size_t(src) * slot_bytes + size_t(c.n_prefix) * D * 2, pitch,
                                        size_t(n_tokens - c.n_prefix) * D * 2, KVH, cudaMemcpyDeviceToDevice,
                                        stream_.get()));
    }
  }
}

}  // namespace si
