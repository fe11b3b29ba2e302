#!/usr/bin/env bash
# Everything GPU-side in one call on the device machine (run from the repository root there):
#   scripts/gpu-check.sh [goldens] [build] [tests] [bench] [transformers]   (default: build tests bench)
# - goldens: runs tools/golden/*.py (transformers / tokenizers / peft live only there) and packs
#            their outputs into $OUT/goldens.tar.gz, to be unpacked into tests/golden/ here.
# - build:   configures with CUDA (sm_90a) against .deb packages carried in .deps/debs
#            (fetched by scripts/gpu-deps.sh) and builds everything.
# - tests:   runs the whole ctest suite (GPU tests run here instead of skipping).
# - bench:   runs the GPU benchmarks and writes a short report.
# - transformers: tools/gpu/transformers_1b.py makes a random Llama-3.2-1B with transformers (fp16),
#            its logits and the issue's transformers timings (TRANSFORMERS_COMPILE=1 adds
#            torch.compile; TRANSFORMERS_BENCH=0 skips the timings), then test_model_cuda's HfParity1B
#            compares our runner's logits (FP16, and the FP8 path) with them.
# Writes logs and a report under $OUT (default ./out-gpu).
# GPU_TARGETS="a b" builds only those targets; GPU_TESTS=regex runs only matching ctest tests;
# GPU_BENCH="bench_cuda_x ..." runs only those benchmark programs.
# Fixtures: ../shared (beside the checkout) as elsewhere, else ./shared (the device tool carries a
# shared/ folder inside the checkout, not the one beside it).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out-gpu}
mkdir -p "$OUT"
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(build tests bench)
has() { local s; for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
REPORT="$OUT/report.md"
log() { echo "$*" | tee -a "$REPORT"; }

log "# gpu-check $(date -u +%FT%TZ)"
log "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo none)"
log "nvcc: $(nvcc --version 2>/dev/null | tail -1)"
log "python: $(python3 -c 'import sys,torch,transformers,tokenizers; print(sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__)' 2>&1 | tail -1)"
log "peft: $(python3 -c 'import peft; print(peft.__version__)' 2>&1 | tail -1)"

if has goldens; then
  G="$OUT/goldens"
  mkdir -p "$G"
  for script in tools/golden/*.py; do
    name=$(basename "$script" .py)
    log "## golden $name"
    ( time PYTHONUNBUFFERED=1 python3 "$script" --out "$G/$name" ) > "$OUT/golden-$name.log" 2>&1
    log "exit $? ($(tail -1 "$OUT/golden-$name.log"))"
  done
  tar -C "$G" -czf "$OUT/goldens.tar.gz" . && rm -rf "$G"
fi

if has build; then
  ROOT=$PWD/.deps/root
  if [ ! -d "$ROOT" ]; then
    mkdir -p "$ROOT"
    for f in .deps/debs/*.deb; do dpkg -x "$f" "$ROOT"; done
  fi
  export CMAKE_PREFIX_PATH=$ROOT/usr
  export LD_LIBRARY_PATH=$ROOT/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  log "## build"
  SHARED=$PWD/../shared
  [ -d "$SHARED/fixtures" ] || SHARED=$PWD/shared
  ( cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOPINTENT_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_LIBRARY_PATH=$ROOT/usr/lib/x86_64-linux-gnu \
        -DSHOPINTENT_SHARED_DIR="$SHARED" \
    && cmake --build build/gpu -j "$(nproc)" ${GPU_TARGETS:+--target $GPU_TARGETS} ) > "$OUT/build.log" 2>&1
  rc=$?
  log "build exit $rc"
  [ $rc -eq 0 ] || { tail -40 "$OUT/build.log"; exit $rc; }
fi

if has tests; then
  log "## tests"
  ctest --test-dir build/gpu -j 8 --output-on-failure ${GPU_TESTS:+-R "$GPU_TESTS"} > "$OUT/ctest.log" 2>&1
  log "ctest exit $? — $(grep -E 'tests passed|tests failed' "$OUT/ctest.log")"
  grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)' "$OUT/ctest.log" | tee -a "$REPORT"
fi

if has bench; then
  log "## bench"
  for b in build/gpu/bench/bench_cuda*; do
    [ -x "$b" ] || continue
    [ -z "${GPU_BENCH:-}" ] || [[ " $GPU_BENCH " == *" $(basename "$b") "* ]] || continue
    "$b" --benchmark_min_time=0.2 > "$OUT/$(basename "$b").txt" 2>&1
    log "$(basename "$b"): exit $?"
    tail -30 "$OUT/$(basename "$b").txt" >> "$REPORT"
  done
fi
if has transformers; then
  log "## transformers (random Llama-3.2-1B, fp16)"
  HF1B=${HF1B:-/tmp/hf1b}
  ( time PYTHONUNBUFFERED=1 python3 tools/gpu/transformers_1b.py --out "$HF1B" \
        $([ "${TRANSFORMERS_BENCH:-1}" = 0 ] || echo --bench) ${TRANSFORMERS_COMPILE:+--compile} ) \
      > "$OUT/transformers.log" 2>&1
  log "exit $? ($(tail -1 "$OUT/transformers.log"))"
  cp "$HF1B/bench.json" "$OUT/transformers-bench.json" 2>/dev/null
  grep -E '^(paper job|prefill)' "$OUT/transformers.log" | tee -a "$REPORT"
  SHOPINTENT_HF_1B=$HF1B build/gpu/tests/model/test_model_cuda --gtest_filter='HfParity1B.*' 2>&1 \
    | grep -E '1B fp|OK|FAILED|SKIPPED|Failure|Expected|Which' | tee -a "$REPORT"
fi
echo "report: $REPORT"
