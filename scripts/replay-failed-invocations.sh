#!/bin/sh
# Replays every event in the FailedInvocationsQueue (the functions'
# on-failure destination): each message is an invocation record whose
# `requestPayload` is the original event and whose
# `requestContext.functionArn` names the function. Each event is invoked
# again asynchronously and its message deleted only once the invoke was
# accepted; the loop runs until the queue is empty (ten messages a receive).
# Replaying is safe: events are stored by id and publishing is idempotent.
#
# Usage: scripts/replay-failed-invocations.sh <FailedInvocationsQueueUrl>
set -eu
url=${1:?usage: $0 <FailedInvocationsQueueUrl>}
event=$(mktemp)
trap 'rm -f "$event"' EXIT
replayed=0
while :; do
  batch=$(aws sqs receive-message --queue-url "$url" --max-number-of-messages 10 \
    --visibility-timeout 300 --wait-time-seconds 1 --output json)
  count=$(printf '%s' "${batch:-{\}}" | jq '.Messages // [] | length')
  [ "$count" -gt 0 ] || break
  i=0
  while [ "$i" -lt "$count" ]; do
    message=$(printf '%s' "$batch" | jq -c ".Messages[$i]")
    i=$((i + 1))
    body=$(printf '%s' "$message" | jq -r '.Body')
    printf '%s' "$body" | jq '.requestPayload' > "$event"
    function=$(printf '%s' "$body" | jq -r '.requestContext.functionArn | sub(":\\$LATEST$"; "")')
    aws lambda invoke --function-name "$function" --invocation-type Event \
      --cli-binary-format raw-in-base64-out --payload "file://$event" /dev/null > /dev/null
    aws sqs delete-message --queue-url "$url" \
      --receipt-handle "$(printf '%s' "$message" | jq -r '.ReceiptHandle')"
    replayed=$((replayed + 1))
  done
done
echo "replayed $replayed event(s)"
