// model/cuda/llama_runner_cuda.h — runs a LlamaModel on the GPU: FP16 weights in device memory (a
// GPTQ 4-bit model's Linears in 4 bits and its embedding / LM head in 8), a device KV cache (FP16)
// with the CPU runner's slots and shared prefixes, batched prefill and decode, logits of all or
// selected vocabulary rows. Same contract as model/llama_runner.h.
//
//   si::CudaLlamaRunner r(model, {.n_slots = 4, .capacity = 1024});   // uploads weights as FP16
//   auto g = si::LlamaModel::load("model-gptq", {.gptq_dequantize = false});   // no F16 copy in RAM
//   si::CudaLlamaRunner r4(g, {});                                      // Linears 4-bit (W4A16), head int8
//   std::vector<float> logits = r.eval(0, ids);                         // (T, V) of slot 0
//   r.append({{1, req.data(), n}}, hidden);                             // hidden (1, C) host, normed
//   r.logits(hidden, 1, allowed_rows, out);                             // (1, rows.size())
//   r.logits_pairs(hidden, n, hidden_rows, vocab_rows, out);            // several sequences' rows
//   r.append_greedy({{1, &tok, 1}}, &tok);                              // decode step + argmax on the GPU
//   r.generate_greedy({{1, ids.data(), n}}, 8, out);                    // 8 greedy tokens, one sync
//
//   auto r = si::CudaLlamaRunner::random(si::llama_config_preset("llama-3.2-1b"), 1, {...});  // benchmarks
//
// Activations: the residual stream stays fp32; matmul inputs and outputs, q/k/v, attention output
// and the KV cache are fp16 (what cuBLAS's fp16 path and transformers' fp16 models do); every
// reduction accumulates in fp32. Per layer: norm -> one fused QKV matmul -> RoPE + KV store (one
// kernel) -> attention (on the tensor cores, ops/cuda/attention_mma.cu, one block per chunk of a
// sequence's tokens) -> Wo matmul adding into the residual -> norm -> fused gate|up matmul -> SwiGLU -> down
// matmul adding into the residual (for one token with FP16 Linears, SwiGLU runs in the gate|up
// GEMV's epilogue). Each matmul site's kernel follows its weight and the rows M
// (model/cuda/linear_cuda.h): FP16 -> GEMV for one row, else cuBLASLt; GPTQ 4-bit
// -> W4A16 up to 64 rows, else dequantize + cuBLASLt. With `fp8_min_tokens`, passes that large
// run FP16 Linears' e4m3 copies: the norms and SwiGLU write e4m3 rows instead of fp16, the
// attention output is quantized before Wo. Norms stay fp32. The token embedding / LM head
// (tied in Llama-3.2-1B: 525 MB in FP16, as much as all its 4-bit Linears) is FP16, or int8 with one
// scale per row (ops/cuda/w8.h, quantized at upload; the default for 4-bit models, `head`): looked
// up dequantized, and multiplied by the int8 GEMV for up to 16 rows (a greedy step reads half the
// bytes), by dequantized chunks and cuBLASLt above. With `graphs`, a batch shape seen before
// replays a captured CUDA graph of the whole layer stack (decode steps cost one launch); for
// append_greedy the graph also holds the final norm, the LM head and the argmax, so a greedy step
// moves only token ids between host and device.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "formats/llama_config.h"
#include "model/cuda/linear_cuda.h"
#include "model/llama_model.h"
#include "model/slot_table.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"
#include "ops/cuda/matmul.h"
#include "ops/cuda/w8.h"

namespace si {

struct CudaRunnerOptions {
  int n_slots = 1;
  int capacity = 2048;          // positions per slot
  int max_tokens = 1024;        // tokens of one forward pass (activation buffers are sized for it)
  bool graphs = true;           // replay CUDA graphs for batch sizes up to graph_max_tokens
  int graph_max_tokens = 64;
  bool gptq_4bit = true;        // a 4-bit GPTQ model keeps its Linears in 4 bits (false: FP16 on the GPU)
  int w4_max_rows = 64;         // 4-bit Linears: W4A16 up to this many rows, dequantize + cuBLAS above
  bool mma_attention = true;    // tensor-core attention (ops/cuda/attention_mma.cu) where it applies
  // The token embedding and LM head: FP16, int8 with per-row scales, or `automatic`: int8 when the
  // Linears run in 4 bits (VRAM for a GPTQ model's weights about a third of FP16's), else FP16.
  enum class Head { automatic, f16, int8 };
  Head head = Head::automatic;
  // FP16 Linears: forward passes of at least this many tokens run their matmuls in FP8 (e4m3
  // weights and activations with per-channel and per-token scales, ops/cuda/fp8.h), which Hopper's
  // tensor cores multiply at twice the FP16 rate: for large prefills, at some cost in accuracy
  // (docs/cuda-notes.md). Keeps an e4m3 copy of every Linear beside its FP16 one (+50 % of their
  // VRAM). 0: never (the default); not for 4-bit Linears.
  int fp8_min_tokens = 0;
  // cuBLASLt's FP8 fast accumulation (Blas::matmul_fp8): ~1e-3 relative error on a 2048-long dot
  // product against ~2e-4, both far under e4m3's own rounding (2^-4), for ~10 % more speed.
  bool fp8_fast_accum = true;
};

class CudaLlamaRunner {
 public:
  CudaLlamaRunner(const LlamaModel& model, CudaRunnerOptions opt);
  // Random FP16 weights made on the device (uniform, std 0.02; norms near 1): benchmarks of real
  // shapes without a host model.
  static std::unique_ptr<CudaLlamaRunner> random(const LlamaConfig& cfg, uint64_t seed, CudaRunnerOptions opt);
  // The same, except each layer's seven Linears, which `layer_linears(l)` gives as packed GPTQ
  // 4-bit tensors (q k v o gate up down; "gptq" v1 zero points), uploaded as from a checkpoint.
  using GptqLayerSource = std::function<std::vector<GptqPacked>(int layer)>;
  static std::unique_ptr<CudaLlamaRunner> random_gptq(const LlamaConfig& cfg, uint64_t seed, CudaRunnerOptions opt,
                                                      const GptqLayerSource& layer_linears);
  ~CudaLlamaRunner();

  struct Append {
    int slot;
    const int32_t* tokens;
    int n_tokens;  // >= 1
  };
  void append(std::span<const Append> batch, float* hidden);
  // As append, then each entry's greedy next token (argmax over the whole vocabulary of the logits
  // after its last token; lowest id on ties) into next (batch.size()).
  void append_greedy(std::span<const Append> batch, int32_t* next);
  // Greedy decoding of n_new tokens for each entry (distinct slots): append_greedy, then n_new - 1
  // steps that each append the token the step before picked, with no host round trip between
  // steps (the tokens and positions advance on the device; one download at the end). out
  // (batch.size(), n_new) row-major; each slot ends n_new - 1 tokens longer than append would
  // leave it, as after n_new append_greedy calls, whose tokens these are. No stop token: a caller
  // that has one cuts the output after it (and clears or re-shares the slot).
  void generate_greedy(std::span<const Append> batch, int n_new, int32_t* out);
  void forward(std::span<const int32_t> tokens, std::span<const int32_t> slots, std::span<const int32_t> pos,
               std::span<const int32_t> out_rows, float* hidden);
  // forward, with next[i] the greedy token after row out_rows[i] (at least one row).
  void forward_greedy(std::span<const int32_t> tokens, std::span<const int32_t> slots, std::span<const int32_t> pos,
                      std::span<const int32_t> out_rows, int32_t* next);
  void logits(const float* hidden, int64_t n, std::span<const int32_t> rows, float* out);
  // out[i] = the logit of vocabulary row vocab_rows[i] for hidden row hidden_rows[i] of `hidden`
  // (n_hidden, C): the allowed tokens of every sequence of a decode step in one upload, launch and
  // download. Each value is bitwise what logits() gives for that hidden row and vocabulary row.
  void logits_pairs(const float* hidden, int64_t n_hidden, std::span<const int32_t> hidden_rows,
                    std::span<const int32_t> vocab_rows, float* out);
  std::vector<float> eval(int slot, std::span<const int32_t> ids);

  // Slots, as KvCache: lengths, sharing a prefix in place, copying one.
  int n_slots() const { return opt_.n_slots; }
  int capacity() const { return opt_.capacity; }
  int max_tokens() const { return opt_.max_tokens; }  // tokens of one forward pass
  int length(int slot) const { return slots_.length(slot); }
  void clear(int slot) { slots_.clear(slot); }
  void share_prefix(int src, int dst, int n_tokens) { slots_.share_prefix(src, dst, n_tokens); }
  void copy_slot(int src, int dst, int n_tokens);

  const LlamaConfig& config() const { return cfg_; }
  size_t weight_bytes() const { return weights_.bytes_used(); }  // all weights (embedding included)
  size_t linear_weight_bytes() const { return linear_bytes_; }   // the seven Linears of every layer
  int linears_4bit() const;                                       // matmul sites running 4-bit weights
  bool head_int8() const { return head_int8_; }                   // embedding / LM head in 8 bits
  size_t kv_bytes() const { return kv_.bytes_used(); }
  size_t slot_bytes() const { return kv_.bytes_used() / size_t(opt_.n_slots); }
  size_t activation_bytes() const { return act_.bytes_used(); }
  cuda::Stream& stream() { return stream_; }

 private:
  struct Layer {
    const float* attn_norm;  // (C)
    const float* ffn_norm;   // (C)
    CudaLinear qkv;          // (Q + 2 KV, C): q rows, then k, then v
    CudaLinear o;            // (C, Q)
    CudaLinear gu;           // (2F, C): gate rows, then up
    CudaLinear down;         // (C, F)
  };
  CudaLlamaRunner(const LlamaConfig& cfg, CudaRunnerOptions opt, bool interleaved, bool linears_4bit);
  void allocate();                 // everything but the Linears
  void allocate_f16_linears();     // FP16 Linears (filled by the caller)
  void make_fp8_linears();         // their e4m3 copies (when fp8_), after they are filled
  // 4-bit Linears from `linear(layer, proj)` (proj as gptq_linear_prefix), then the scratch they need.
  void upload_gptq(const std::function<cuda::GptqView(int layer, int proj)>& linear);
  void allocate_scratch();         // LinearScratch for 4-bit sites (after the Linears exist)
  // The embedding (output: the untied LM head) from `fill`, which writes its (V, C) fp16 rows to the
  // device pointer it gets: in place, or into a temporary buffer then quantized to int8.
  void put_table(bool output, const std::function<void(void* f16_rows)>& fill);
  // Random norms, embedding / LM head, final norm and RoPE frequencies (seeds continue from k).
  void fill_random_rest(uint64_t& k, const std::vector<const float*>& norms);
  // Checks and uploads a batch, runs the layer stack (and with `greedy`, the greedy head on the
  // out_rows), replaying or capturing a graph per (T, greedy rows).
  void run(std::span<const int32_t> tokens, std::span<const int32_t> slots, std::span<const int32_t> pos,
           std::span<const int32_t> out_rows, bool greedy);
  // run's halves: check a batch and upload it (ids | pos | rows | meta | chunks, one copy) ...
  void stage(std::span<const int32_t> tokens, std::span<const int32_t> slots, std::span<const int32_t> pos,
             std::span<const int32_t> out_rows);
  // ... and run the layer stack (and the greedy head) on what is on the device.
  void execute(int64_t T, int64_t n_out, bool greedy);
  void layers(int64_t T);  // the layer stack on the device inputs already uploaded
  void greedy_head(int64_t n_out);  // d_next_ (n_out) = argmax of the logits of rows d_rows_
  // y (m, V) f32 = h (m, C) fp16 times the LM head, m <= max_out_ (FP16 or int8).
  void head_logits(const void* h, int64_t m, float* y);
  // y = x W^T (x (M, K) f16): linear_matmul on the runner's stream and scratch.
  void mm(const void* x, int64_t M, const CudaLinear& w, DType y_t, void* y, bool accumulate);
  // FP16 weights (V, C) such as the LM head: GEMV or cuBLASLt.
  void mm_f16(const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y);
  // An append batch as forward's arrays (positions from the slots' lengths; one output row per entry).
  void flatten(std::span<const Append> batch, std::vector<int32_t>* tokens, std::vector<int32_t>* slots,
               std::vector<int32_t>* pos, std::vector<int32_t>* out_rows) const;
  cuda::KvLayer kv_layer(int l) const;

  LlamaConfig cfg_;
  CudaRunnerOptions opt_;
  bool interleaved_ = false;
  cuda::Stream stream_;
  cuda::Blas blas_;
  cuda::DeviceArena weights_{"weights"}, kv_{"kv-cache (fp16)"}, act_{"activations"};
  std::vector<Layer> layer_;
  size_t linear_bytes_ = 0;
  LinearScratch scratch_;
  const void* tok_embd_ = nullptr;    // (V, C) fp16
  const void* output_ = nullptr;      // (V, C) fp16, tok_embd_ when tied
  bool fp8_ = false;                  // fp8_min_tokens set and FP16 Linears: they have e4m3 copies
  float* xs_ = nullptr;               //   and a pass's matmul input is e4m3 rows in h_ with scales (T)
  bool head_int8_ = false;            // then these instead of tok_embd_ / output_ (null):
  cuda::W8Weight embd8_, out8_;       // (V, C) int8 + (V) scales; out8_ = embd8_ when tied
  void* head_w16_ = nullptr;          // int8 head, more than 8 rows: (kHeadChunk, C) fp16 rows
  float* head_y_ = nullptr;           //   and (max_out_, kHeadChunk) f32 logits of one chunk
  const float* output_norm_ = nullptr;
  const float* inv_freq_ = nullptr;   // (D/2)
  void* kv_base_ = nullptr;           // (L, 2, S, KVH, cap, D) fp16
  // Activations, sized for max_tokens: x (T, C) f32, xn (T, C) f16, qkv (T, Q+2KV) f16,
  // att (T, Q) f16, gu (T, 2F) f16, h (T, F) f16, out (T, C) f32 + f16, logits scratch.
  float* x_ = nullptr;
  void *xn_ = nullptr, *qkv_ = nullptr, *att_ = nullptr, *gu_ = nullptr, *h_ = nullptr;
  float* hid_ = nullptr;
  void* hid16_ = nullptr;
  float* logits_ = nullptr;           // (max_out, V) f32
  int64_t max_out_ = 0;
  int32_t* d_ids_ = nullptr;          // (max_tokens) then pos (max_tokens) then out_rows, then meta
  int32_t* d_pos_ = nullptr;
  int32_t* d_rows_ = nullptr;
  int32_t* d_sel_ = nullptr;          // (2 V): vocabulary rows for logits(rows), + hidden rows for logits_pairs
  int32_t* sel_host_ = nullptr;       // (2 V) pinned staging of d_sel_ for logits_pairs
  int32_t* d_next_ = nullptr;         // (max_tokens) greedy tokens
  void* argmax_work_ = nullptr;       // cuda::argmax_rows' work buffer for max_out_ rows (kept zeroed)
  int32_t* next_host_ = nullptr;      // (max_tokens) pinned copy of d_next_
  cuda::TokenMeta* d_meta_ = nullptr;
  int32_t* d_chunks_ = nullptr;       // (max_tokens + 2) attention chunks (cuda::attention_chunks)
  int attn_chunk_tokens_ = 0;         // tokens per chunk of attention_mma; 0: the CUDA-core kernel
  void* staging_ = nullptr;           // pinned host copy of ids | pos | rows | meta | chunks
  size_t staging_bytes_ = 0;
  cudaEvent_t staged_ = nullptr;      // recorded after the last upload from staging_
  cuda::DeviceBuffer gen_;            // generate_greedy's tokens (B, n_new)
  // By (batch tokens, greedy rows or 0): captured graphs, and eager runs per key (cuBLAS plans
  // exist after one).
  std::map<std::pair<int64_t, int64_t>, cudaGraphExec_t> graphs_;
  std::map<std::pair<int64_t, int64_t>, int> seen_;
  SlotTable slots_;  // lengths and shared prefixes, as the CPU's KvCache keeps them
};

}  // namespace si
