#!/usr/bin/env bash
# Throughput of `start-doctor investigate` on a CloudTrail S3 archive,
# against `zcat` alone and `zcat | jq` doing the same filtering.
# Usage: bash benches/archive.sh [TOTAL_MB] [FILES]   (default 200 MB in 20 files)
# Prints MB/s of uncompressed JSON for each, the ratios, and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/start-doctor-target}"
MB="${1:-200}"
FILES="${2:-20}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/start-doctor"

python3 benches/make_archive.py "$WORK/archive" "$MB" "$FILES"
mapfile -t GZ < <(find "$WORK/archive" -name '*.json.gz' | sort)
BYTES=$(zcat "${GZ[@]}" | wc -c)
sync

run() { # name, command...
    local name="$1"; shift
    local start end secs
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$WORK/rss" "$@" > /dev/null
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc -l)
    printf '%-34s %7.2f s  %8.1f MB/s  peak RSS %6.1f MB\n' "$name" "$secs" \
        "$(echo "$BYTES / 1048576 / $secs" | bc -l)" "$(echo "$(cat "$WORK/rss") / 1024" | bc -l)"
    echo "$secs" > "$WORK/$name.secs"
}

echo "input: $(echo "$BYTES / 1048576" | bc) MB of JSON in ${#GZ[@]} gzip files, $(nproc) cores"
run zcat zcat "${GZ[@]}"
run "zcat | jq" sh -c 'zcat "$@" | jq -c ".Records[] | select(.errorCode != null and (.eventSource == \"kms.amazonaws.com\" or .eventName == \"StartInstances\"))"' _ "${GZ[@]}"
run "start-doctor investigate" "$BIN" investigate --format json "$WORK/archive"
printf 'start-doctor is %.1fx faster than zcat | jq and takes %.2fx the time of zcat alone\n' \
    "$(echo "$(cat "$WORK/zcat | jq.secs") / $(cat "$WORK/start-doctor investigate.secs")" | bc -l)" \
    "$(echo "$(cat "$WORK/start-doctor investigate.secs") / $(cat "$WORK/zcat.secs")" | bc -l)"
"$BIN" investigate --format json "$WORK/archive" | python3 -c 'import json,sys; print("diagnoses:", len(json.load(sys.stdin)["diagnoses"]))'
