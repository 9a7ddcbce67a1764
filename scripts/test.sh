#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, every test.
# Installs what it needs (Rust components, Python test tools) itself.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# A persistent target dir outside the repo keeps the AWS SDK crates compiled
# between runs (a cold build of them takes many minutes on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/start-doctor-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Snapshots must match what is committed; never write new ones in a test run.
export INSTA_UPDATE=no

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "python test tools (moto server, slack-sdk)"
# The tests start a moto server (AWS emulator) and a local Slack receiver
# that validates every message with Slack's own SDK; both bind 127.0.0.1.
python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt

step "templates: cfn-lint, sam validate --lint, checkov (offline, zero findings)"
# Installs its pinned linters into ~/.cache/start-doctor-lint on first use.
# The arm64 release build (scripts/build-lambdas.sh) is not run here: a cold
# build takes longer than the rest of the suite (see docs/deploy.md).
bash scripts/lint-templates.sh
bash scripts/build-lambdas.sh --check-profile

step "cargo lambda: both functions run locally on the seed story"
# Builds the functions, runs them under `cargo lambda watch` against moto and the
# Slack receiver, invokes them with the events/ samples (docs: README, "Run the
# functions locally") and checks the one expected Slack message.
bash scripts/local-run.sh --check

step "cargo fmt --check"
cargo fmt --all -- --check

# --all-features builds the CLI's `aws` feature (S3 in place, query --run)
# so that its code and tests (moto, aws-smithy-mocks) run too; the default
# build (the README's quick start) compiles no AWS SDK.
step "cargo clippy -D warnings (all features)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo test (all features)"
cargo test --workspace --all-features --locked

step "fuzz smoke: 2000 executions of each fuzz target from its corpus (docs/fuzzing.md)"
# Installs its pinned cargo-fuzz into ~/.cache/start-doctor-fuzz on first use
# and builds there; fails on any crash, hang or memory runaway.
bash scripts/fuzz.sh 2000

step "done"
