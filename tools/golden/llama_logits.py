#!/usr/bin/env python3
"""Golden logits for the CPU engine (tests/model/test_hf_golden.cpp), from transformers (the truth).

Run on the GPU machine (torch, transformers, safetensors, numpy; runs on the CPU):

    python3 tools/golden/llama_logits.py --out tests/golden/llama

(or through scripts/gpu-check.sh goldens, then move the unpacked llama_logits/ to tests/golden/llama/).
Builds small random Llamas of the real architecture -- GQA (4 query / 2 kv heads), llama3 RoPE
scaling with frequencies in all three regimes (unchanged, smoothed, divided), tied embeddings, and
one untied variant -- and writes (about 1.6 MB in all):
  tied/, untied/             save_pretrained in float32 (config.json, model.safetensors)
  tied-f16/, tied-bf16/      the tied model saved in float16 / bfloat16
  tokens.json                {"seqs": [[...], [...]]}: two sequences of different lengths (33, 48)
  logits-<name>.npy          float32 [sum of lengths, vocab]: each sequence run alone (batch 1, no
                             padding), rows concatenated in order. <name>:
      tied-fp32, untied-fp32 fp32 model, fp32 compute
      tied-f16w, tied-bf16w  the f16 / bf16 weights upcast to fp32, fp32 compute (what an engine
                             with fp32 activations on half weights should reproduce)
      tied-f16, tied-bf16    transformers running in float16 / bfloat16 end to end
  versions.json              torch / transformers versions and the measured gaps between variants
"""
import argparse
import json
import os

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

SEQ_LENS = (33, 48)


def make_config(tied):
    return LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
        rms_norm_eps=1e-5, rope_theta=10000.0,
        # head_dim 16, theta 1e4: wavelengths 6 .. 2e4; with original context 256 the low
        # frequencies are divided by 8, one is smoothed and three keep their value.
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 256},
        tie_word_embeddings=tied, bos_token_id=254, eos_token_id=255,
        attention_bias=False, mlp_bias=False, initializer_range=0.1)


def make_model(tied, seed):
    torch.manual_seed(seed)
    m = LlamaForCausalLM(make_config(tied)).eval()
    m.config._attn_implementation = "eager"
    # The llama3 scaling must be in effect (transformers 4 and 5 spell the config differently).
    inv = m.model.rotary_emb.inv_freq.float()
    plain = 1.0 / (10000.0 ** (torch.arange(0, 16, 2).float() / 16))
    assert abs(float(plain[-1] / inv[-1]) - 8.0) < 1e-3, f"llama3 rope scaling not applied: {inv}"
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 1:  # norms: not all ones, so a misplaced norm weight shows
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    return m


def run(model, seqs, dtype):
    model = model.to(dtype)
    out = []
    with torch.no_grad():
        for s in seqs:
            ids = torch.tensor([s], dtype=torch.long)
            out.append(model(input_ids=ids).logits[0].float().numpy())
    return np.concatenate(out, 0).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(4)
    rng = np.random.default_rng(7)
    seqs = [[254] + rng.integers(0, 254, n - 1).tolist() for n in SEQ_LENS]
    with open(os.path.join(args.out, "tokens.json"), "w") as f:
        json.dump({"seqs": seqs}, f)

    report = {"torch": torch.__version__}
    import transformers
    report["transformers"] = transformers.__version__

    def save(name, arr):
        np.save(os.path.join(args.out, f"logits-{name}.npy"), arr)
        print(f"logits-{name}.npy {arr.shape} std {arr.std():.4f} max|x| {np.abs(arr).max():.4f}")

    for tied, name, seed in ((True, "tied", 1), (False, "untied", 2)):
        m = make_model(tied, seed)
        m.save_pretrained(os.path.join(args.out, name), safe_serialization=True)
        save(f"{name}-fp32", run(m, seqs, torch.float32))

    ref = np.load(os.path.join(args.out, "logits-tied-fp32.npy"))
    for dt, tag in ((torch.float16, "f16"), (torch.bfloat16, "bf16")):
        m = make_model(True, 1).to(dt)
        m.save_pretrained(os.path.join(args.out, f"tied-{tag}"), safe_serialization=True)
        upcast = run(m, seqs, torch.float32)  # half weights, fp32 compute
        save(f"tied-{tag}w", upcast)
        native = run(make_model(True, 1).to(dt), seqs, dt)
        save(f"tied-{tag}", native)
        report[f"{tag}: native vs fp32-compute max abs"] = float(np.abs(native - upcast).max())
        report[f"{tag}: half weights vs fp32 weights max abs"] = float(np.abs(upcast - ref).max())
    with open(os.path.join(args.out, "versions.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
