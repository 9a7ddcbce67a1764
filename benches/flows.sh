#!/usr/bin/env bash
# Throughput of `start-doctor flows` on a VPC flow-log S3 archive (gzip,
# versions 2, 4 and 5 mixed), against `zcat` alone and against
# `zcat | grep REJECT | sort | uniq -c` on the same files.
# Usage: bash benches/flows.sh [TOTAL_MB_GZIP] [FILES]   (default 2048 MB in 256 files)
# Prints time, records per second, MB/s of uncompressed text and peak memory
# for each.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/start-doctor-target}"
MB="${1:-2048}"
FILES="${2:-256}"
WORK="${FLOWS_BENCH_DIR:-$(mktemp -d)}"
[ -n "${FLOWS_BENCH_DIR:-}" ] || trap 'rm -rf "$WORK"' EXIT

command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet -p start-doctor
cargo build --release --quiet -p start-doctor-flows --example make_flows
BIN="$CARGO_TARGET_DIR/release/start-doctor"

if [ ! -d "$WORK/AWSLogs" ]; then
    "$CARGO_TARGET_DIR/release/examples/make_flows" "$WORK" "$MB" "$FILES"
fi
mapfile -t GZ < <(find "$WORK/AWSLogs" -name '*.log.gz' | sort)
STORED=$(cat "${GZ[@]}" | wc -c)
read -r LINES BYTES < <(zcat "${GZ[@]}" | wc -lc)
RECORDS=$((LINES - ${#GZ[@]}))
sync

run() { # name, command...
    local name="$1"; shift
    local start end secs
    start=$(date +%s.%N)
    /usr/bin/time -f "%M %U" -o "$WORK/rss" "$@" > /dev/null
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc -l)
    read -r rss user < "$WORK/rss"
    printf '%-36s %7.2f s (%6.2f s CPU)  %9.0f records/s  %7.1f MB/s  peak RSS %7.1f MB\n' "$name" "$secs" "$user" \
        "$(echo "$RECORDS / $secs" | bc -l)" "$(echo "$BYTES / 1048576 / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
    echo "$secs" > "$WORK/$name.secs"
}

echo "input: $(echo "$STORED / 1048576" | bc) MB gzip in ${#GZ[@]} files, $(echo "$BYTES / 1048576" | bc) MB of text, $RECORDS records; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run zcat zcat "${GZ[@]}"
run "zcat | grep REJECT | sort | uniq -c" sh -c 'zcat "$@" | grep REJECT | sort | uniq -c' _ "${GZ[@]}"
run "start-doctor flows" "$BIN" flows --format json "$WORK"
printf 'start-doctor flows takes %.2fx the time of zcat alone and is %.1fx faster than zcat | grep | sort | uniq -c\n' \
    "$(echo "$(cat "$WORK/start-doctor flows.secs") / $(cat "$WORK/zcat.secs")" | bc -l)" \
    "$(echo "$(cat "$WORK/zcat | grep REJECT | sort | uniq -c.secs") / $(cat "$WORK/start-doctor flows.secs")" | bc -l)"
"$BIN" flows --format json "$WORK" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("findings:", len(r["findings"]), "noise:", r["noise"])'
