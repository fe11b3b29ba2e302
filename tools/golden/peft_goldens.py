#!/usr/bin/env python3
"""Golden files for the trainer (tests/train/test_golden.cpp), from transformers + peft (the truth).

Run on the GPU machine (torch, transformers, peft, safetensors installed; runs on the CPU in fp32):

    python3 tools/golden/peft_goldens.py --out tests/golden/train

(or through scripts/gpu-check.sh goldens, then move the unpacked peft_goldens/ to tests/golden/train/).
Builds a small random Llama of the real architecture (GQA 4/2 heads, llama3 RoPE scaling with one
frequency in each regime, tied embeddings), one fixed batch with prompt-masked, right-padded labels,
and writes (< 1 MB in all):
  base/                    save_pretrained of the model (config.json, model.safetensors)
  batch.json               {"input_ids": [[...]], "labels": [[...]]}  (-100 = no loss)
  lora_init/               peft adapter (r=4, alpha=8, dropout 0, all 7 target modules) with random
                           B (so A gets gradients), as PeftModel.save_pretrained writes it
  lora_expected.safetensors  loss, logits, grad.<name> of every LoRA tensor, after3.<name> after 3
                           torch.optim.AdamW steps (lr 1e-2, weight_decay 0.01, foreach=False, no
                           schedule, no clipping) on the same batch
  full_expected.safetensors  the same for full fine-tuning (every parameter of the base)
  versions.json            torch / transformers / peft versions
Names are peft's saved names (".default" removed) and HF's parameter names.
"""
import argparse
import json
import os
import sys

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    import transformers
    import peft
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1234)
    torch.use_deterministic_algorithms(True)
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
        # head_dim 8: wavelengths 6.3, 63, 628, 6283 against 64/4=16 and 64/1=64: high, medium, low, low
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64},
        bos_token_id=62, eos_token_id=63, attn_implementation="eager", torch_dtype="float32")
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():  # weights larger than HF's 0.02 init, norms away from 1: every path carries signal
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    base_dir = os.path.join(args.out, "base")
    model.save_pretrained(base_dir, safe_serialization=True)

    B, T = 2, 12
    input_ids = torch.randint(0, 62, (B, T))
    labels = input_ids.clone()
    labels[:, :5] = -100           # prompt
    input_ids[1, 9:] = 0           # row 1 is right-padded ...
    labels[1, 9:] = -100           # ... and the padding carries no loss
    with open(os.path.join(args.out, "batch.json"), "w") as f:
        json.dump({"input_ids": input_ids.tolist(), "labels": labels.tolist()}, f)

    def run(m, params, prefix_strip):
        """loss, logits and grads on the batch, then parameters after 3 AdamW steps."""
        m.train()  # dropout is 0 everywhere, so train mode only matters for peft bookkeeping
        out = m(input_ids=input_ids, labels=labels)
        out.loss.backward()
        res = {"loss": out.loss.detach().reshape(1).clone(), "logits": out.logits.detach().clone()}
        for n, p in params:
            res["grad." + prefix_strip(n)] = p.grad.detach().clone()
        opt = torch.optim.AdamW([p for _, p in params], lr=1e-2, weight_decay=0.01, foreach=False)
        opt.step()
        for _ in range(2):
            opt.zero_grad()
            m(input_ids=input_ids, labels=labels).loss.backward()
            opt.step()
        for n, p in params:
            res["after3." + prefix_strip(n)] = p.detach().clone()
        return {k: v.contiguous() for k, v in res.items()}

    # LoRA (peft) on a fresh copy of the base.
    from peft import LoraConfig, get_peft_model
    lora_model = LlamaForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32, attn_implementation="eager")
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    lora_model = get_peft_model(lora_model, lcfg)
    with torch.no_grad():  # B = 0 at init would make every A gradient 0
        for n, p in lora_model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.1 * torch.randn_like(p))
    lora_model.save_pretrained(os.path.join(args.out, "lora_init"), safe_serialization=True)
    lora_params = [(n, p) for n, p in lora_model.named_parameters() if p.requires_grad]
    assert len(lora_params) == 2 * 7 * cfg.num_hidden_layers, len(lora_params)
    res = run(lora_model, lora_params, lambda n: n.replace(".default", ""))
    save_file(res, os.path.join(args.out, "lora_expected.safetensors"))
    print(f"lora: loss {res['loss'].item():.6f}, {len(lora_params)} tensors")

    # Full fine-tuning on another fresh copy (tied: lm_head is embed_tokens, listed once).
    full = LlamaForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32, attn_implementation="eager")
    full_params = list(full.named_parameters())
    res = run(full, full_params, lambda n: n)
    save_file(res, os.path.join(args.out, "full_expected.safetensors"))
    print(f"full: loss {res['loss'].item():.6f}, {len(full_params)} tensors")

    with open(os.path.join(args.out, "versions.json"), "w") as f:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}, f)
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(args.out) for x in fs)
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
