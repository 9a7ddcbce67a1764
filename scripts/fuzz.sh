#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer) on the stable
# toolchain. Installs its pinned cargo-fuzz into ~/.cache/start-doctor-fuzz
# on first use and fails loudly when it cannot. See docs/fuzzing.md.
# Usage: bash scripts/fuzz.sh [RUNS] [TARGET...]
#   RUNS     executions per target (default 2000: the CI smoke)
#   TARGET   read_document eventbridge_envelope cloudtrail_record gzip ebs_document
#            (default: all)
# Each target starts from the committed corpus (fuzz/corpus/TARGET, left
# untouched) and stops at the first panic, hang (-timeout) or memory
# runaway (-rss_limit_mb), which fails this script and leaves the input in
# $FUZZ_HOME/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.1
FUZZ_HOME="${FUZZ_HOME:-$HOME/.cache/start-doctor-fuzz}"
RUNS="${1:-2000}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(read_document eventbridge_envelope cloudtrail_record gzip ebs_document)

if [ "$("$FUZZ_HOME/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $FUZZ_HOME"
    CARGO_TARGET_DIR="$FUZZ_HOME/install-target" cargo install --locked --force \
        --version "$CARGO_FUZZ_VERSION" --root "$FUZZ_HOME" cargo-fuzz \
        || { echo "FAILED to install cargo-fuzz $CARGO_FUZZ_VERSION" >&2; exit 1; }
fi
export PATH="$FUZZ_HOME/bin:$PATH"
# libFuzzer needs nightly-only rustc flags (-Cpasses=sancov-module, ...);
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them, for this build only.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ_HOME/target}"
# No sanitizer: the core has no unsafe code; debug assertions (and so
# overflow checks) on, so arithmetic overflow is a crash too.
for target in "${TARGETS[@]}"; do
    (cd fuzz && cargo fuzz build --sanitizer none --debug-assertions "$target") \
        || { echo "FAILED to build fuzz target $target" >&2; exit 1; }
done
BIN="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

for target in "${TARGETS[@]}"; do
    work="$FUZZ_HOME/corpus-run/$target"
    artifacts="$FUZZ_HOME/artifacts/$target"
    rm -rf "$work"
    mkdir -p "$work" "$artifacts"
    start=$SECONDS
    # New finds go to $work; the committed corpus is only read.
    "$BIN/$target" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -dict=fuzz/json.dict -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$work" "fuzz/corpus/$target" > "$FUZZ_HOME/$target.log" 2>&1 \
        || { tail -n 40 "$FUZZ_HOME/$target.log" >&2; echo "FUZZ FAILURE in $target: input in $artifacts" >&2; exit 1; }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$FUZZ_HOME/$target.log")
    echo "$target: $runs executions, no crash ($((SECONDS - start))s)"
done
