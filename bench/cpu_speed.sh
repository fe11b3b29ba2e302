#!/usr/bin/env bash
# Issue 4's CPU speed table in one run: `shopintent perf` on random Llama-3.2-1B GGUFs of every
# format, against the llama.cpp figures of the issue (c392e50, 2 threads, this machine kind), with
# the generation speed as a fraction of the memory-bandwidth bound and the peak-RSS budget check.
# Usage: bench/cpu_speed.sh [build/release/src/cli/shopintent] [threads] [reps] [formats...]
#   MODELS=/tmp/dir (default /tmp/shopintent-cpu-speed): where the random GGUFs are written once.
#   BW_GBS=30: the machine's read bandwidth for the bound (2 threads here).
# Other work on the machine skews every figure: the script prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-build/release/src/cli/shopintent}
T=${2:-2}
R=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
FORMATS=${*:-F16 Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0}
W=${MODELS:-/tmp/shopintent-cpu-speed}
mkdir -p "$W"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for f in $FORMATS; do
  "$S" perf --random llama-3.2-1b --type "$f" --cache-dir "$W" -p 64 -n 16 -t "$T" -r "$R" --json > "$W/$f.json"
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$W" "${BW_GBS:-30}" $FORMATS <<'PY'
import json, sys
w, bw, formats = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
llama = {"F16": (59.2, 9.3), "Q8_0": (47.6, 15.2), "Q6_K": (33.2, 13.7), "Q5_K_M": (30.6, 17.0),
         "Q4_K_M": (41.4, 17.5), "Q4_0": (58.4, 21.4)}
print(f"{'type':7} {'pp64 tok/s':>16} {'x llama':>7} {'tg tok/s':>15} {'x llama':>7} {'GB/s':>5} {'of bound':>8} "
      f"{'peak RSS MiB':>12} {'budget':>7}")
for f in formats:
    j = json.load(open(f"{w}/{f}.json"))
    pp, tg = j["pp"], j["tg"]
    lp, lt = llama.get(f, (float("nan"), float("nan")))
    mib = 1 << 20
    budget = (j["file_bytes"] + j["kv_bytes"]) / mib + 64
    rss = j["peak_rss_bytes"] / mib
    print(f"{f:7} {pp['tok_s']:9.1f} ± {pp['sd']:4.1f} {pp['tok_s'] / lp:6.2f}x {tg['tok_s']:8.1f} ± {tg['sd']:4.1f} "
          f"{tg['tok_s'] / lt:6.2f}x {tg['weight_gb_s']:5.1f} {tg['weight_gb_s'] / bw:7.0%} {rss:12.0f} "
          f"{'ok' if rss <= budget else 'OVER':>7}")
PY
