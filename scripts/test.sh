#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the release build (CUDA too when nvcc is found;
# GPU tests skip without a GPU), then the CPU suite again under AddressSanitizer + UBSan.
#   scripts/test.sh            # everything
#   SHOPINTENT_SKIP_SANITIZE=1 scripts/test.sh   # release suite only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
JOBS=${JOBS:-$(nproc)}

cmake --preset release >/dev/null
cmake --build --preset release -j "$JOBS"
ctest --preset release -j "$JOBS"

if [ -z "${SHOPINTENT_SKIP_SANITIZE:-}" ]; then
  cmake --preset debug >/dev/null
  cmake --build --preset debug -j "$JOBS"
  ctest --preset debug -j "$JOBS" -L "${SHOPINTENT_SANITIZE_LABELS:-.}"
fi
