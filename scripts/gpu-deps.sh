#!/usr/bin/env bash
# Fetches (here, where Debian's registry is reachable) the .deb files the GPU machine needs to build
# shopintent, into .deps/debs (git-ignored; the device tool carries it). scripts/gpu-check.sh
# unpacks them there into .deps/root.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps/debs
cd .deps/debs
PKGS=(libfmt-dev libfmt9 libcli11-dev nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0
      libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2 libgtest-dev libgmock-dev
      libbenchmark-dev libbenchmark1debian)
for p in "${PKGS[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
done
echo "gpu-deps: $(ls | wc -l) packages in .deps/debs"
