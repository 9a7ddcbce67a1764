#!/usr/bin/env bash
# Offline preflight at scale: `start-doctor preflight` over a synthetic input
# of INSTANCES instances, KEYS keys and ROLES roles (default 1000 / 20 / 10).
# Usage: bash benches/preflight.sh [INSTANCES] [KEYS] [ROLES] [RUNS]
# Prints the input size, the wall time of each run and the best, the peak
# memory and the verdict counts.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/start-doctor-target}"
INSTANCES="${1:-1000}"
KEYS="${2:-20}"
ROLES="${3:-10}"
RUNS="${4:-5}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet -p start-doctor
BIN="$CARGO_TARGET_DIR/release/start-doctor"

python3 benches/make_preflight.py "$WORK/input" "$INSTANCES" "$KEYS" "$ROLES"
echo "input: $INSTANCES instances, $KEYS keys, $ROLES roles; $(du -sh "$WORK/input" | cut -f1) of JSON; $(nproc) cores"
best=""
for run in $(seq "$RUNS"); do
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" preflight --format json "$WORK/input" > "$WORK/out.json"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'run %d: %5d ms  peak RSS %6.1f MB\n' "$run" "$ms" "$(awk '{print $1/1024}' "$WORK/rss")"
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
python3 - "$WORK/out.json" "$best" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
checks = report["checks"]
verdicts = collections.Counter(c["verdict"] for c in checks)
causes = collections.Counter(c["cause"] for c in checks if c["cause"])
best = int(sys.argv[2])
print(f"best: {best} ms for {len(checks)} checks ({len(checks) / max(best, 1) * 1000:.0f} checks/s)")
print("verdicts:", dict(sorted(verdicts.items())))
print("causes:  ", dict(sorted(causes.items())))
PY
