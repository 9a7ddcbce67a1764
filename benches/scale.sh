#!/usr/bin/env bash
# A post-mortem at organization scale: `investigate --since` over a generated
# multi-account archive, against `zcat | jq` on the same selection, and the
# same selection read in place from S3 (moto on 127.0.0.1).
# Usage: bash benches/scale.sh [TOTAL_MB] [FILES] [ACCOUNTS] [DAYS] [S3_FILES]
#   default: 2048 MB of JSON in 400 gzip files, 4 accounts x 10 days;
#   --since selects the last day (a tenth); S3_FILES (default 10) of that
#   day's files go to moto.
# Prints time, peak RSS and bytes read for each. Results: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/start-doctor-target}"
MB="${1:-2048}"; FILES="${2:-400}"; ACCOUNTS="${3:-4}"; DAYS="${4:-10}"; S3_FILES="${5:-10}"
WORK="$(mktemp -d)"
MOTO_PID=""
cleanup() { [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

for tool in jq bc; do command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }; done
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet -p start-doctor
BIN="$CARGO_TARGET_DIR/release/start-doctor"

python3 benches/make_archive.py "$WORK/archive" "$MB" "$FILES" "$ACCOUNTS" "$DAYS"
mapfile -t ALL < <(find "$WORK/archive" -name '*.json.gz' | sort)
mapfile -t DAY < <(find "$WORK/archive" -path '*/2026/11/20/*' -name '*.json.gz' | sort)
gz_bytes() { du -cb "$@" | tail -1 | cut -f1; }
echo "archive: ${#ALL[@]} files, $(zcat "${ALL[@]}" | wc -c) bytes of JSON, $(gz_bytes "${ALL[@]}") bytes gzip"
echo "--since 2026-11-20 selects ${#DAY[@]} files, $(zcat "${DAY[@]}" | wc -c) bytes of JSON, $(gz_bytes "${DAY[@]}") bytes gzip"
echo "machine: $(nproc) cores, shared with other builds (figures are noisy)"
sync

run() { # name, command...
    local name="$1"; shift
    /usr/bin/time -v -o "$WORK/time" "$@" > "$WORK/out" 2> "$WORK/err" || true
    printf '%-44s %8s s  peak RSS %7.1f MB\n' "$name" \
        "$(grep 'Elapsed (wall clock)' "$WORK/time" | awk '{print $NF}')" \
        "$(echo "$(grep 'Maximum resident set size' "$WORK/time" | awk '{print $NF}') / 1024" | bc -l)"
    grep -h 'start-doctor: read' "$WORK/err" | sed 's/^/    /' || true
}

run "zcat (selection)" zcat "${DAY[@]}"
run "zcat | jq (selection)" sh -c 'zcat "$@" | jq -c ".Records[] | select((.eventSource == \"kms.amazonaws.com\" and .errorCode != null) or .eventName == \"StartInstances\" or .eventName == \"RunInstances\")"' _ "${DAY[@]}"
run "start-doctor investigate --since (archive)" "$BIN" investigate --format json --stats --since 2026-11-20 "$WORK/archive"
python3 -c 'import json,sys; print("    diagnoses:", len(json.load(open(sys.argv[1]))["diagnoses"]))' "$WORK/out"
run "start-doctor investigate (whole archive)" "$BIN" investigate --format json --stats "$WORK/archive"

# S3 in place: moto on 127.0.0.1, the debug build with the aws feature (a
# release build of the AWS SDK takes longer than this whole benchmark).
cargo build --quiet -p start-doctor --features aws
cp "$CARGO_TARGET_DIR/debug/start-doctor" "$WORK/start-doctor-aws"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 50); do curl -s "$AWS_ENDPOINT_URL" >/dev/null && break; sleep 0.2; done
python3 - "$WORK/archive" "$S3_FILES" <<'PY'
import boto3, pathlib, sys
root, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench-trail", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
files = sorted(root.rglob("*.json.gz"))
day = [f for f in files if "/2026/11/20/" in f.as_posix()][:n]
older = [f for f in files if "/2026/11/19/" in f.as_posix()][:n]
for f in day + older:
    s3.upload_file(str(f), "bench-trail", f.relative_to(root).as_posix())
(root.parent / "s3-day.txt").write_text("".join(f"{f}\n" for f in day))
print(f"    moto: {len(day)} files of the 20th and {len(older)} of the 19th uploaded")
PY
mapfile -t S3_DAY < "$WORK/s3-day.txt"
echo "S3 selection: ${#S3_DAY[@]} files, $(zcat "${S3_DAY[@]}" | wc -c) bytes of JSON, $(gz_bytes "${S3_DAY[@]}") bytes gzip"
run "start-doctor (debug, aws) s3:// --since" "$WORK/start-doctor-aws" investigate --format json --stats --since 2026-11-20 "s3://bench-trail/AWSLogs/"
mkdir -p "$WORK/local-s3"; cp "${S3_DAY[@]}" "$WORK/local-s3/"
run "start-doctor (debug, aws) same files, local" "$WORK/start-doctor-aws" investigate --format json --stats "$WORK/local-s3"
