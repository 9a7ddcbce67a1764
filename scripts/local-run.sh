#!/usr/bin/env bash
# Runs both Lambda functions locally the way `cargo lambda` runs them, against
# local stand-ins for AWS and Slack, feeds them a scenario's events, and
# prints what Slack received.
#
#   1. installs what is missing: cargo-lambda (PyPI), moto[server], slack-sdk;
#   2. builds the two functions (debug profile, in $CARGO_TARGET_DIR, by
#      default $HOME/.cache/start-doctor-target as for scripts/test.sh);
#   3. starts on free 127.0.0.1 ports: moto (DynamoDB table + SQS queue
#      created with boto3), the Slack receiver of the tests
#      (crates/testkit/slack_receiver.py, as an Incoming Webhook), and
#      one `cargo lambda watch` per function;
#   4. invokes them with `cargo lambda invoke <function> --data-file FILE`,
#      one EventBridge event per call: the state changes to ec2-state-change
#      (JSON Lines are split into one file per line), then the CloudTrail
#      events to cloudtrail-api-call by time, then the deferred checks that
#      ec2-state-change queued in SQS back to it in SQS batches (as Lambda's
#      SQS trigger would);
#   5. prints the Slack messages, and stops everything it started.
#
# Usage: bash scripts/local-run.sh [--check] [--keep] [SCENARIO_DIR]
#   SCENARIO_DIR  a folder of events, such as one of events/ (default
#                 events/seed-story)
#   --check       exit 1 unless Slack received exactly one message, the
#                 seed-story failure: i-0a1b2c3d4e5f60002, KMS grant denied:
#                 identity policy missing; and nothing was rejected by Slack
#                 and no invocation failed
#   --keep        keep the work folder (service and function logs, the env
#                 file, the payloads) and print where it is
#
# Nothing listens beyond 127.0.0.1 and nothing talks to AWS or Slack (the
# build itself uses the cargo registry as usual). Every wait is bounded:
# LOCAL_RUN_BUILD_TIMEOUT (default 3600 s: a cold build of the AWS SDK takes
# many minutes) and LOCAL_RUN_INVOKE_TIMEOUT (default 300 s per invocation).
# CLOUDTRAIL_WAIT_SECONDS (default 0 here) delays the deferred checks in SQS;
# above 0 they are not due during the run and that step finds none.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

CHECK=0
KEEP=0
SCENARIO=events/seed-story
scenario_given=0
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        --keep) KEEP=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; exit 2 ;;
        *)
            [ "$scenario_given" -eq 0 ] || { usage >&2; exit 2; }
            SCENARIO=$(CDPATH='' cd -- "$arg" 2>/dev/null && pwd) || { echo "local-run: no folder $arg" >&2; exit 2; }
            scenario_given=1
            ;;
    esac
done
cd "$(dirname "$0")/.."
SCENARIO=${SCENARIO#"$PWD"/}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/start-doctor-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
BUILD_TIMEOUT="${LOCAL_RUN_BUILD_TIMEOUT:-3600}"
INVOKE_TIMEOUT="${LOCAL_RUN_INVOKE_TIMEOUT:-300}"
STARTUP_TIMEOUT=60
WAIT_SECONDS="${CLOUDTRAIL_WAIT_SECONDS:-0}"

EXPECTED_INSTANCE='i-0a1b2c3d4e5f60002'
EXPECTED_CAUSE="identity policy missing"
TABLE=start-doctor-local
QUEUE=start-doctor-deferred
REGION=eu-west-1
# Fixed local credentials for moto; never real ones.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }
die() { printf 'local-run: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------

step "tools"
pip_install() { timeout 600 python3 -m pip install --quiet --disable-pip-version-check "$@"; }
if ! cargo lambda --version >/dev/null 2>&1; then
    echo "installing cargo-lambda from PyPI"
    pip_install cargo-lambda
    # pip may put the binary where PATH does not look (e.g. ~/.local/bin).
    for dir in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
        "$(python3 -m site --user-base)/bin"; do
        case ":$PATH:" in *":$dir:"*) ;; *) PATH="$PATH:$dir" ;; esac
    done
    command -v pyenv >/dev/null 2>&1 && pyenv rehash 2>/dev/null || true
    cargo lambda --version >/dev/null 2>&1 || die "cargo-lambda was installed but \`cargo lambda\` does not run"
fi
python3 -c 'import moto.server, boto3' 2>/dev/null || { echo "installing moto[server]"; pip_install 'moto[server]'; }
python3 -c 'import slack_sdk' 2>/dev/null || { echo "installing slack-sdk"; pip_install slack-sdk; }
cargo lambda --version

# --- build --------------------------------------------------------------------

# `cargo lambda watch` runs `cargo run` on the first invocation; building
# first makes that instant, and makes a compile error fail here, with its
# message, rather than as an invocation that never answers.
step "cargo build (ec2-state-change, cloudtrail-api-call) in $CARGO_TARGET_DIR"
timeout "$BUILD_TIMEOUT" cargo build --locked -p ec2-state-change -p cloudtrail-api-call ||
    die "the functions did not build (within ${BUILD_TIMEOUT}s)"

# --- services -------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/start-doctor-local.XXXXXX")
groups=()
failed_names=()

# Ends every process group this script started; on failure, shows their logs.
# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
    local status=$? pgid name i
    trap - EXIT INT TERM
    for pgid in "${groups[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
    for pgid in "${groups[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 -- "-$pgid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        for name in "${failed_names[@]}"; do
            [ -s "$work/$name.log" ] || continue
            printf '\n-- last lines of the %s log\n' "$name" >&2
            tail -n 40 "$work/$name.log" >&2
        done
    fi
    if [ "$KEEP" -eq 1 ]; then
        echo "logs, env file and payloads kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs "$@" in a process group of its own, logging to $work/NAME.log. A small
# watchdog in that group ends it when this script is gone (even if killed
# with SIGKILL, when no trap runs) or when the command exits.
start_service() {
    local name=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner sh
    setsid sh -c '
        parent=$1; shift
        "$@" &
        child=$!
        while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
        kill -TERM 0
    ' watchdog "$$" "$@" >"$work/$name.log" 2>&1 </dev/null &
    groups+=("$!")
    failed_names+=("$name")
}

# Waits until something accepts connections on 127.0.0.1:$2.
wait_for_port() {
    local name=$1 port=$2 deadline=$((SECONDS + STARTUP_TIMEOUT))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || die "$name did not listen on 127.0.0.1:$port within ${STARTUP_TIMEOUT}s"
        sleep 0.2
    done
}

# Free loopback ports, all distinct (the sockets are held until all are read).
read -r MOTO_PORT EC2_PORT CT_PORT < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

step "moto on 127.0.0.1:$MOTO_PORT"
start_service moto python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
wait_for_port moto "$MOTO_PORT"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
QUEUE_URL=$(timeout 120 python3 - "$TABLE" "$QUEUE" <<'EOF'
# The table shape of crates/aws/src/dynamodb.rs (`create_table`).
import sys
import boto3
table, queue = sys.argv[1:]
dynamodb = boto3.client("dynamodb")
dynamodb.create_table(
    TableName=table,
    BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
)
dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
dynamodb.update_time_to_live(
    TableName=table, TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True}
)
print(boto3.client("sqs").create_queue(QueueName=queue)["QueueUrl"])
EOF
) || die "could not create the table and queue in moto"
echo "table $TABLE, queue $QUEUE_URL"

step "Slack receiver"
# It exits when its standard input closes: a pipe from a long sleep, ended
# with its process group.
start_service slack sh -c 'sleep 100000 | exec python3 crates/testkit/slack_receiver.py 0 xoxb-local-run'
deadline=$((SECONDS + STARTUP_TIMEOUT))
until SLACK_PORT=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$work/slack.log") && [ -n "$SLACK_PORT" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "the Slack receiver did not print READY within ${STARTUP_TIMEOUT}s"
    sleep 0.2
done
SLACK="http://127.0.0.1:$SLACK_PORT"
echo "webhook $SLACK/services/T000/B000/XXXX"

# The functions' configuration (crates/aws/src/config.rs and start.rs). The
# AWS SDK reads AWS_ENDPOINT_URL itself; no shared config or credentials files
# are read. The webhook posts at once (no gather window): the run checks the
# one message right after the events.
cat >"$work/functions.env" <<EOF
STORE_TABLE=$TABLE
DEFER_QUEUE_URL=$QUEUE_URL
SLACK_WEBHOOK_URL=$SLACK/services/T000/B000/XXXX
SLACK_GATHER_SECONDS=0
CLOUDTRAIL_WAIT_SECONDS=$WAIT_SECONDS
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$REGION
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_CONFIG_FILE=/dev/null
AWS_SHARED_CREDENTIALS_FILE=/dev/null
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=${RUST_LOG:-info}
EOF

# One emulator per function: at the workspace root `cargo run --bin <fn>`
# (what `cargo lambda watch` runs) only finds the root package's binary, so
# each watch is pointed at its function's own manifest.
step "cargo lambda watch: ec2-state-change on 127.0.0.1:$EC2_PORT, cloudtrail-api-call on 127.0.0.1:$CT_PORT"
for fn_port in "ec2-state-change:$EC2_PORT" "cloudtrail-api-call:$CT_PORT"; do
    fn=${fn_port%%:*} port=${fn_port##*:}
    start_service "$fn" cargo lambda watch --manifest-path "functions/$fn/Cargo.toml" \
        --invoke-address 127.0.0.1 --invoke-port "$port" --timeout "$INVOKE_TIMEOUT" \
        --ignore-changes --env-file "$work/functions.env"
    wait_for_port "cargo lambda watch ($fn)" "$port"
done

# --- invocations ----------------------------------------------------------------

# invoke FUNCTION PORT FILE: prints how long the invocation took and the
# function's answer (one line of JSON).
invoke() {
    local fn=$1 port=$2 file=$3 out begin
    begin=$(date +%s%N)
    if ! out=$(timeout "$((INVOKE_TIMEOUT + 10))" cargo lambda invoke "$fn" \
        --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$file" \
        --output-format json </dev/null 2>&1); then
        printf '%s\n' "$out" >&2
        die "cargo lambda invoke $fn --data-file $file failed"
    fi
    # One line: the time taken and the answer as compact JSON.
    python3 -c 'import json, sys, time
text = sys.stdin.read()
took = (time.time_ns() - int(sys.argv[1])) / 1e9
try:
    answer = json.dumps(json.loads(text), separators=(",", ":"))
except ValueError:
    answer = " ".join(text.split())
print(f"({took:.1f}s) {answer}")' "$begin" <<<"$out"
}

# The scenario's EventBridge events, one payload file each, in the order
# EventBridge would deliver them: the state changes first, in file order
# (they arrive within seconds), then the CloudTrail events by time (they
# arrive minutes later). A file holding one event is used as it is; JSON
# Lines and arrays are split. Other files (describe-* output, CloudTrail log
# files) are not Lambda payloads and are skipped.
timeout 60 python3 - "$SCENARIO" "$work/payloads" >"$work/plan.tsv" <<'EOF'
import json, os, sys
scenario, out = sys.argv[1:]
os.makedirs(out)
FUNCTIONS = {
    "EC2 Instance State-change Notification": "ec2-state-change",
    "AWS API Call via CloudTrail": "cloudtrail-api-call",
}
state_changes, cloudtrail = [], []
for root, dirs, files in os.walk(scenario):
    dirs.sort()
    for name in sorted(files):
        path = os.path.relpath(os.path.join(root, name))
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        try:
            doc = json.loads(text)
            events, whole = (doc if isinstance(doc, list) else [doc]), not isinstance(doc, list)
        except ValueError:
            try:
                events, whole = [json.loads(l) for l in text.splitlines() if l.strip()], False
            except ValueError:
                continue
        for i, event in enumerate(events, 1):
            fn = FUNCTIONS.get(event.get("detail-type")) if isinstance(event, dict) else None
            if fn is None:
                continue
            d = event.get("detail", {})
            if fn == "ec2-state-change":
                label = f"{d.get('instance-id')} {d.get('state')}"
            else:
                label = " ".join(filter(None, [d.get("eventSource"), d.get("eventName"), d.get("errorCode")]))
            item = (fn, path if whole else f"{path}#{i}", label, event)
            (state_changes if fn == "ec2-state-change" else cloudtrail).append(item)
cloudtrail.sort(key=lambda item: item[3].get("time", ""))
for n, (fn, source, label, event) in enumerate(state_changes + cloudtrail, 1):
    if "#" in source:
        data = os.path.join(out, f"{n:03}-{fn}.json")
        with open(data, "w") as f:
            json.dump(event, f)
    else:
        data = source
    print(fn, data, f"{source}: {label}", sep="\t")
EOF
[ -s "$work/plan.tsv" ] || die "no EventBridge events for the functions in $SCENARIO"

step "invoking the functions with each event of $SCENARIO"
while IFS=$'\t' read -r fn data label; do
    case "$fn" in ec2-state-change) port=$EC2_PORT ;; *) port=$CT_PORT ;; esac
    printf '  %-16s <- %s\n' "$fn" "$label"
    answer=$(invoke "$fn" "$port" "$data")
    printf '  %-16s -> %s\n' "" "$answer"
done <"$work/plan.tsv"

# What Lambda's SQS event source does: receive the deferred checks that
# ec2-state-change queued, invoke it with them in batches of up to 10, and
# delete a batch's messages unless it reports failures.
step "ec2-state-change <- deferred checks from SQS"
timeout 120 python3 - "$QUEUE_URL" "$work/batches" "$REGION" <<'EOF'
import json, os, sys
import boto3
url, out, region = sys.argv[1:]
os.makedirs(out)
sqs = boto3.client("sqs")
queue_arn = f"arn:aws:sqs:{region}:123456789012:{url.rsplit('/', 1)[1]}"
for n in range(1, 101):
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2 if n == 1 else 0,
        AttributeNames=["All"], VisibilityTimeout=600,
    ).get("Messages", [])
    if not messages:
        break
    for m in messages:
        print("  deferred check:", m["Body"])
    records = [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]
    with open(os.path.join(out, f"{n:03}.json"), "w") as f:
        json.dump({"Records": records}, f)
EOF
batch_failures=0
batches=("$work"/batches/*.json)
if [ ! -e "${batches[0]}" ]; then
    echo "  none due (CLOUDTRAIL_WAIT_SECONDS=$WAIT_SECONDS)"
fi
for batch in "${batches[@]}"; do
    [ -e "$batch" ] || continue
    answer=$(invoke ec2-state-change "$EC2_PORT" "$batch")
    printf '  %-16s -> %s\n' "" "$answer"
    failures=$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1].split(") ", 1)[1]).get("batchItemFailures", [])))' "$answer")
    batch_failures=$((batch_failures + failures))
    [ "$failures" -ne 0 ] || timeout 60 python3 - "$QUEUE_URL" "$batch" <<'EOF'
import json, sys
import boto3
url, batch = sys.argv[1], json.load(open(sys.argv[2]))
sqs = boto3.client("sqs")
for record in batch["Records"]:
    sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
EOF
done

# --- what Slack received ----------------------------------------------------------

step "Slack messages"
verdict=0
timeout 30 python3 - "$SLACK" "$CHECK" "$EXPECTED_INSTANCE" "$EXPECTED_CAUSE" "$batch_failures" <<'EOF' || verdict=$?
import json, sys, urllib.request
base, check, instance, cause, batch_failures = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4], int(sys.argv[5])
def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)
messages, rejections = get("/_messages"), get("/_rejections")
def header(payload):
    for block in payload.get("blocks", []):
        if block.get("type") == "header":
            return block["text"]["text"]
    return payload.get("text", "")
for i, m in enumerate(messages, 1):
    p = m.get("payload", {})
    print(f"{i}. [{m['kind']}] {header(p)}")
    print("   " + p.get("text", "").replace("\n", "\n   "))
for r in rejections:
    print(f"REJECTED [{r['kind']}] {r['error']}: {r['detail']}")
print(f"{len(messages)} message(s) accepted, {len(rejections)} rejected")
if check:
    problems = []
    if len(messages) != 1:
        problems.append(f"expected exactly 1 message, got {len(messages)}")
    elif instance not in header(messages[0]["payload"]) or cause not in header(messages[0]["payload"]).lower():
        problems.append(f"the message does not name {instance} with cause {cause!r}")
    if rejections:
        problems.append(f"{len(rejections)} message(s) rejected")
    if batch_failures:
        problems.append(f"{batch_failures} deferred check(s) failed")
    for p in problems:
        print("CHECK FAILED:", p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("CHECK OK: one message, for", instance, "(" + cause + ")")
EOF

step "done"
if [ "$verdict" -eq 0 ]; then failed_names=(); fi
exit "$verdict"
