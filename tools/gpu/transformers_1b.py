#!/usr/bin/env python3
"""transformers on a random Llama-3.2-1B: the reference for issue 7 (GPU machine only).

    python3 tools/gpu/transformers_1b.py --out /tmp/hf1b [--bench] [--compile]

Writes into --out:
  model/            config.json + model.safetensors, float16 (save_pretrained of the random model)
  tokens.json       {"seqs": [[...], ...]}: random token sequences (lengths SEQ_LENS)
  logits-f16.npy    float32 [sum of lengths, vocab]: transformers in float16 end to end (sdpa), each
                    sequence alone (batch 1), rows concatenated in order
  bench.json        with --bench: the issue's timings re-measured on this machine (milliseconds and
                    queries/s, median of REPS after warm-up): the paper-style job (64-token prompt,
                    greedy 8 new tokens through generate) at batch 1 and 128, one 64-token prefill
                    pass at batch 1 and 256 (and with --compile, the same under torch.compile)

The weights are transformers' own random init (normal, std 0.02) with seed 0, so the logits spread
over about one unit: enough for top-1 comparisons to mean something. tests/model/test_hf_1b_cuda.cpp
reads this directory (SHOPINTENT_HF_1B=DIR) and compares our CUDA runner's logits with these.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

SEQ_LENS = (64, 17)
REPS = 10


def llama_3_2_1b_config():
    return LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001,
        attention_bias=False, mlp_bias=False, initializer_range=0.02)


def timed(fn, reps=REPS):
    """Median wall time in ms of fn() after two warm-up calls, CUDA synchronised."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def bench(model, compile_too):
    dev = model.device
    g = torch.Generator().manual_seed(1)
    res = {}

    def ids(batch, n):
        return torch.randint(0, 128000, (batch, n), generator=g).to(dev)

    for batch in (1, 128):
        x = ids(batch, 64)
        ms = timed(lambda: model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=8,
                                          min_new_tokens=8, do_sample=False, pad_token_id=0),
                   reps=5 if batch > 1 else REPS)
        res[f"paper_job_b{batch}_ms"] = ms
        res[f"paper_job_b{batch}_qps"] = batch / (ms[0] / 1e3)
        print(f"paper job batch {batch}: {ms[0]:.1f} ms (min {ms[1]:.1f}, max {ms[2]:.1f})", flush=True)

    def prefill(m, tag):
        for batch in (1, 256):
            x = ids(batch, 64)
            with torch.no_grad():
                ms = timed(lambda: m(x, use_cache=False, logits_to_keep=1))
            res[f"prefill64_b{batch}{tag}_ms"] = ms
            res[f"prefill64_b{batch}{tag}_qps"] = batch / (ms[0] / 1e3)
            print(f"prefill 64 batch {batch}{tag}: {ms[0]:.2f} ms, {batch / (ms[0] / 1e3):.0f} q/s", flush=True)

    prefill(model, "")
    if compile_too:
        t0 = time.perf_counter()
        cm = torch.compile(model)
        prefill(cm, "_compiled")
        res["compile_and_prefill_s"] = time.perf_counter() - t0
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device("cuda"):
        model = LlamaForCausalLM(llama_3_2_1b_config()).to(torch.float16).eval()
    model.config._attn_implementation = "sdpa"
    print(f"random 1B made in {time.perf_counter() - t0:.1f} s", flush=True)
    model.save_pretrained(os.path.join(a.out, "model"), safe_serialization=True)

    g = torch.Generator().manual_seed(2)
    seqs = [torch.randint(0, 128000, (n,), generator=g).tolist() for n in SEQ_LENS]
    rows = []
    with torch.no_grad():
        for s in seqs:
            out = model(torch.tensor([s], device="cuda"), use_cache=False)
            rows.append(out.logits[0].float().cpu().numpy())
    np.save(os.path.join(a.out, "logits-f16.npy"), np.concatenate(rows).astype(np.float32))
    with open(os.path.join(a.out, "tokens.json"), "w") as f:
        json.dump({"seqs": seqs}, f)
    info = {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
            "device": torch.cuda.get_device_name(0)}
    if a.bench:
        info.update(bench(model, a.compile))
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
