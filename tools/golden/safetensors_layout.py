#!/usr/bin/env python3
"""safetensors files as the python library writes them, and transformers' shard split, for
tests/formats/test_safetensors_golden.cpp (our SafetensorsWriter must give the same bytes).

Run on the GPU machine (torch, safetensors and huggingface_hub live there):

    python3 tools/golden/safetensors_layout.py --out DIR

and copy DIR/* into tests/golden/safetensors_layout/ (scripts/gpu-check.sh goldens does both).
Writes:
  mixed.safetensors   one tensor of every dtype we support, values from the formulas below,
                      metadata {"format": "pt"}, via safetensors.torch.save_file
  shards.json         {"max_shard_size": 800, "filename_to_tensors": {...}, "metadata": {...}}
                      from huggingface_hub.split_torch_state_dict_into_shards (what save_pretrained uses)
  versions.txt        library versions
"""
import argparse
import json
import os

import torch
import safetensors
from safetensors.torch import save_file
import huggingface_hub
from huggingface_hub import split_torch_state_dict_into_shards


def mixed():
    # Insertion order differs from the file order on purpose: the library sorts.
    return {
        "w.f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5,
        "b.bf16": torch.arange(4, dtype=torch.bfloat16),
        "x.i64": torch.arange(3, dtype=torch.int64) - 1,
        "m.u8": torch.arange(5, dtype=torch.uint8),
        "f.f16": torch.arange(4, dtype=torch.float16).reshape(2, 2) * 0.25,
        "e.bool": torch.arange(3) % 2 == 1,
        "z.f64": torch.arange(2, dtype=torch.float64) / 3,
        "k.i32": torch.tensor([7, -7], dtype=torch.int32),
        "s.i16": torch.tensor([300, -300], dtype=torch.int16),
        "t.i8": torch.tensor([-5, 5], dtype=torch.int8),
        "a.f32": torch.tensor([1.0], dtype=torch.float32),
    }


def sharded():
    names = ["model.layers.0.w", "model.layers.0.v", "model.big", "model.layers.1.w", "model.norm"]
    sizes = [64, 64, 200, 64, 32]
    return {n: torch.arange(s, dtype=torch.float32) + 1000 * i for i, (n, s) in enumerate(zip(names, sizes))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    save_file(mixed(), os.path.join(args.out, "mixed.safetensors"), metadata={"format": "pt"})
    split = split_torch_state_dict_into_shards(sharded(), max_shard_size=800)
    with open(os.path.join(args.out, "shards.json"), "w") as f:
        json.dump({"max_shard_size": 800, "filename_to_tensors": split.filename_to_tensors,
                   "metadata": split.metadata}, f, indent=2, sort_keys=True)
    with open(os.path.join(args.out, "versions.txt"), "w") as f:
        f.write(f"torch {torch.__version__} safetensors {safetensors.__version__} "
                f"huggingface_hub {huggingface_hub.__version__}\n")
    print("wrote", sorted(os.listdir(args.out)))


if __name__ == "__main__":
    main()
