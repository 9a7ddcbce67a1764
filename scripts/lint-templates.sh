#!/usr/bin/env bash
# Lints the CloudFormation/SAM templates with zero findings allowed:
#   cfn-lint                  (errors, warnings and informational checks)
#   sam validate --lint       (SAM transform + cfn-lint, as `sam` sees it)
#   checkov                   (security policies, offline, --skip-download)
# on template.yaml and template-member.yaml. A suppression is allowed only
# inline in a template, with its reason (Metadata: checkov: skip: comment).
#
# checkov ignores resources whose Condition is false with the default
# parameters (e.g. the trail, which is off by default), so it also scans a
# copy of each template with every optional resource switched on.
#
# Offline: the linters need no AWS account or credentials (fake ones are set
# so that no credential lookup can reach the network), telemetry and update
# checks are off, and where the kernel allows it (root, or unprivileged user
# namespaces) they run in a network namespace with no interfaces at all.
# The only network use is pip installing the pinned tools
# (scripts/requirements-lint.txt) the first time, into two virtualenvs under
# $START_DOCTOR_LINT_VENVS (default ~/.cache/start-doctor-lint).
#
# Usage: bash scripts/lint-templates.sh [TEMPLATE...]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -gt 0 ]]; then TEMPLATES=("$@"); else TEMPLATES=(template.yaml template-member.yaml); fi
REQUIREMENTS=scripts/requirements-lint.txt
VENVS="${START_DOCTOR_LINT_VENVS:-$HOME/.cache/start-doctor-lint}"
SAM_VENV="$VENVS/sam"
CHECKOV_VENV="$VENVS/checkov"

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

# Installs the pinned lines of $REQUIREMENTS matching $2 into venv $1, unless
# the venv already has exactly those versions.
ensure_venv() {
  local venv="$1" pattern="$2" pins
  pins=$(grep -E "^(${pattern})==" "$REQUIREMENTS")
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "$pins" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for pin in sys.argv[1].split():
    name, want = pin.split("==")
    if version(name) != want:
        sys.exit(1)
PY
    return 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $pins
}

# Runs a command without network where the kernel lets us.
if unshare -n true 2>/dev/null; then
  offline() { unshare -n "$@"; }
  offline_mode="network namespace without interfaces (unshare -n)"
elif unshare -rn true 2>/dev/null; then
  offline() { unshare -rn "$@"; }
  offline_mode="network namespace without interfaces (unshare -rn)"
else
  offline() { "$@"; }
  offline_mode="no network namespace available; relying on offline flags"
fi

# No AWS account: fake credentials (never used: nothing here calls AWS),
# a fixed Region, no instance metadata lookups, no telemetry, no update checks.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export SAM_CLI_TELEMETRY=0
export BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true

step "linters (pinned in $REQUIREMENTS)"
ensure_venv "$SAM_VENV" "aws-sam-cli|cfn-lint"
ensure_venv "$CHECKOV_VENV" "checkov"
echo "offline: $offline_mode"
echo "cfn-lint $(offline "$SAM_VENV/bin/cfn-lint" --version | awk '{print $2}'), $(offline "$SAM_VENV/bin/sam" --version), checkov $(offline "$CHECKOV_VENV/bin/checkov" --version)"

step "cfn-lint"
# -c I: informational checks too; any finding fails (exit code != 0).
offline "$SAM_VENV/bin/cfn-lint" --include-checks I -- "${TEMPLATES[@]}"
echo "no findings"

step "sam validate --lint"
for t in "${TEMPLATES[@]}"; do
  offline "$SAM_VENV/bin/sam" validate --lint --template-file "$t" --region eu-west-1
done

step "checkov"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Copies with every optional resource on: the listed parameters get a
# Default that makes their Conditions true.
python3 - "$work" "${TEMPLATES[@]}" <<'PY'
import pathlib, re, sys
ON = {
    "CreateTrail": '"true"',
    "OrganizationId": "o-exampleorg1",
    "MemberAccountIds": '"111122223333"',
    "AlarmTopicArn": "arn:aws:sns:eu-west-1:111122223333:start-doctor-alarms",
    "EnableOpsCenter": '"true"',
    "EnableInstanceTagging": '"true"',
    "CreateReadRole": '"true"',
    "EnableEbsDoctor": '"true"',  # ebs (issue 17)
}
out = pathlib.Path(sys.argv[1])
for name in sys.argv[2:]:
    text = pathlib.Path(name).read_text()
    for param, value in ON.items():
        # The parameter's block: "  Param:" then lines indented deeper.
        block = re.compile(r"(^  %s:\n(?:(?:    .*)?\n)*?    Default: ).*$" % re.escape(param), re.M)
        text = block.sub(lambda m: m.group(1) + value, text, count=1)
    (out / ("all-on-" + pathlib.Path(name).name)).write_text(text)
PY
files=()
for t in "${TEMPLATES[@]}"; do files+=(-f "$t" -f "$work/all-on-$(basename "$t")"); done
offline "$CHECKOV_VENV/bin/checkov" "${files[@]}" --framework cloudformation \
  --skip-download --compact --quiet

step "done"
