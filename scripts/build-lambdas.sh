#!/usr/bin/env bash
# Builds the Lambda functions of template.yaml for arm64 (Graviton) in
# release mode:
#   target/lambda/ec2-state-change/bootstrap
#   target/lambda/cloudtrail-api-call/bootstrap
#   target/lambda/preflight/bootstrap
#   target/lambda/ebs-ceiling/bootstrap (the EBS doctor, EnableEbsDoctor)
#   target/lambda/flows-rejects/bootstrap (the flows doctor, EnableFlowsDoctor)
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
# Usage: bash scripts/build-lambdas.sh            (every function)
#        NICE=10 bash scripts/build-lambdas.sh     (lower CPU priority)
#        bash scripts/build-lambdas.sh --check-profile
#                                       (only check [profile.release]; no build)
# Extra arguments go to `cargo lambda build` (e.g. --locked).
#
# `cargo lambda build --release` (this script and `sam build` alike) adds
# `--config profile.release.<key>=...` for each of strip, lto, codegen-units
# and panic that the workspace Cargo.toml leaves unset, and its panic is
# "abort": a panic in one invocation would then kill the runtime instead of
# failing that invocation (lambda_runtime catches a handler's panic only
# when it unwinds). So the script first checks that [profile.release] sets
# all four, panic to "unwind"; scripts/test.sh runs that check too.
#
# `sam build` runs its own `cargo lambda build --release --arm64 --bin <Binary>`
# in each CodeUri; SAM CLI 1.170 builds into the same workspace target/, so
# after this script it only copies the bootstraps (docs/deploy.md). Use this
# script to check that the bootstraps build and how large they are.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LAMBDA_VERSION="1.9.2"
TARGET_TRIPLE="aarch64-unknown-linux-gnu"
FUNCTIONS=(ec2-state-change cloudtrail-api-call preflight ebs-ceiling flows-rejects)

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

# Exits 1, naming what is missing, unless the workspace [profile.release]
# sets every key cargo-lambda would otherwise set for us, panic to "unwind".
check_profile() {
  python3 - <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python < 3.11
    sys.exit("build-lambdas: checking Cargo.toml needs Python 3.11 or later (tomllib)")
with open("Cargo.toml", "rb") as f:
    release = tomllib.load(f).get("profile", {}).get("release", {})
problems = [
    f"[profile.release] does not set {key}: cargo lambda build --release would set its own"
    for key in ("strip", "lto", "codegen-units", "panic")
    if key not in release
]
if "panic" in release and release["panic"] != "unwind":
    problems.append(
        '[profile.release] panic is not "unwind": a panic would kill the Lambda runtime '
        "instead of failing the one invocation"
    )
for p in problems:
    print(f"build-lambdas: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print("[profile.release] sets strip, lto, codegen-units and panic = \"unwind\"")
PY
}

step "release profile"
check_profile
if [[ "${1:-}" == "--check-profile" ]]; then
  exit 0
fi

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
