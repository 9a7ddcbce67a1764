#!/usr/bin/env bash
# Builds the three Lambda functions of template.yaml for arm64 (Graviton) in
# release mode:
#   target/lambda/ec2-state-change/bootstrap
#   target/lambda/cloudtrail-api-call/bootstrap
#   target/lambda/preflight/bootstrap
# (under $CARGO_TARGET_DIR instead of target/ when that is set).
#
# Installs what it needs itself: cargo-lambda from PyPI (it brings zig, the
# cross linker) and the aarch64-unknown-linux-gnu Rust target via rustup.
#
# Time: a cold build compiles the AWS SDK crates for aarch64 in release mode,
# about 15 minutes on 2 cores; a rebuild after a change in crates/ about 2
# minutes (measured numbers in docs/deploy.md). This is why it
# is not part of scripts/test.sh.
#
# Usage: bash scripts/build-lambdas.sh            (all three functions)
#        NICE=10 bash scripts/build-lambdas.sh     (lower CPU priority)
# Extra arguments go to `cargo lambda build` (e.g. --locked).
#
# `sam build` runs its own `cargo lambda build --release --arm64 --bin <Binary>`
# in each CodeUri; SAM CLI 1.170 builds into the same workspace target/, so
# after this script it only copies the bootstraps (docs/deploy.md). Use this
# script to check that the bootstraps build and how large they are.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LAMBDA_VERSION="1.9.2"
TARGET_TRIPLE="aarch64-unknown-linux-gnu"
FUNCTIONS=(ec2-state-change cloudtrail-api-call preflight)

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "cargo-lambda"
if ! cargo lambda --help >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check "cargo-lambda==${CARGO_LAMBDA_VERSION}"
fi
# `cargo lambda --version` is not a flag of the subcommand; ask pip instead.
python3 -m pip show cargo-lambda 2>/dev/null | sed -n 's/^Version: /cargo-lambda /p' || true

step "rust target ${TARGET_TRIPLE}"
if ! rustup target list --installed | grep -qx "${TARGET_TRIPLE}"; then
  rustup target add "${TARGET_TRIPLE}"
fi
cargo --version

step "cargo lambda build --release --arm64"
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(--package "$f"); done
nice -n "${NICE:-0}" cargo lambda build --release --arm64 "${packages[@]}" "$@"

step "bootstraps"
target_dir="${CARGO_TARGET_DIR:-target}"
status=0
for f in "${FUNCTIONS[@]}"; do
  bootstrap="${target_dir}/lambda/${f}/bootstrap"
  if [[ -f "$bootstrap" ]]; then
    size=$(stat -c %s "$bootstrap")
    printf '%-18s %s  %s bytes (%s KiB)\n' "$f" "$bootstrap" "$size" "$((size / 1024))"
    file "$bootstrap" 2>/dev/null | sed 's/^/    /' || true
  else
    echo "missing: $bootstrap" >&2
    status=1
  fi
done

step "done"
exit "$status"
