#!/usr/bin/env bash
# Smoke test of the agentq stack on LocalStack (after `make localstack-deploy`): one request in
# each dialect, polled until the echo agent's answer is recorded.
#   xpander:    POST /v1/agents/echo/invoke/async  {"input":{"text":"hi"}}  -> pending,
#               GET /v1/tasks/{id} until completed
#   ServiceNet: POST /v1/agents/echo/invoke-async  {"message":"hi"}         -> running,
#               GET /v1/receipts/{receipt_id} until .receipt.status is succeeded
#   EventBridge: PutEvents of an "Invoke Agent" event on the stack's bus (the trigger's rule),
#               then GET /v1/tasks until the task with the event's text is completed
# Exits non-zero on the first failure, or when a task is not done within SMOKE_TIMEOUT seconds
# (default 180: the first calls include Lambda cold starts and image pulls).
#
# Environment: API_URL, API_KEY, EVENT_BUS and AWS_ENDPOINT override localstack/.state/env written
# by deploy.sh (no EVENT_BUS: the EventBridge flow is skipped).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/localstack/.state/env"
url_override="${API_URL:-}"
key_override="${API_KEY:-}"
bus_override="${EVENT_BUS:-}"
endpoint_override="${AWS_ENDPOINT:-}"
if [ -f "$state" ]; then
  # shellcheck source=/dev/null
  . "$state"
fi
API_URL="${url_override:-${API_URL:-}}"
API_KEY="${key_override:-${API_KEY:-}}"
EVENT_BUS="${bus_override:-${EVENT_BUS:-}}"
AWS_ENDPOINT="${endpoint_override:-${AWS_ENDPOINT:-http://127.0.0.1:4566}}"
if [ -z "$API_URL" ] || [ -z "$API_KEY" ]; then
  echo "smoke: no API_URL/API_KEY: run make localstack-deploy first" >&2
  exit 1
fi
API_URL="${API_URL%/}"
timeout="${SMOKE_TIMEOUT:-180}"
interval=2

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}

# field NAME: prints the top-level field NAME of the last response body ("" when absent).
field() {
  node -e '
    let v;
    try { v = process.argv[2].split(".").reduce((o, k) => o[k], JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))); } catch { v = undefined; }
    process.stdout.write(v == null ? "" : typeof v === "string" ? v : JSON.stringify(v));
  ' "$tmp/body" "$1"
}

# request METHOD PATH [JSON]: stores the body in $tmp/body and prints the HTTP status
# (000 when the API did not answer).
request() {
  local args=(-sS -o "$tmp/body" -w '%{http_code}' --max-time 40 -X "$1" -H "x-api-key: $API_KEY")
  if [ $# -ge 3 ]; then
    args+=(-H 'content-type: application/json' --data "$3")
  fi
  : >"$tmp/body"
  curl "${args[@]}" "$API_URL$2" 2>"$tmp/curl.err" || true
}

# submit NAME PATH JSON WANT_STATUS ID_FIELD: posts a task, checks its first status, prints its id.
# A 5xx or no answer is retried until the deadline: the first call meets cold starts (a retried
# submission may leave an extra task behind, which is harmless here).
submit() {
  local name="$1" path="$2" body="$3" want="$4" id_field="$5" code status id
  local deadline=$((SECONDS + timeout))
  while :; do
    code="$(request POST "$path" "$body")"
    case "$code" in
      2??) break ;;
      000 | 5??) [ "$SECONDS" -lt "$deadline" ] || fail "$name: POST $path: still $code after ${timeout}s: $(cat "$tmp/body" "$tmp/curl.err")" ;;
      *) fail "$name: POST $path answered $code: $(cat "$tmp/body" "$tmp/curl.err")" ;;
    esac
    echo "$name: POST $path answered $code, retrying" >&2
    sleep "$interval"
  done
  status="$(field status)"
  id="$(field "$id_field")"
  [ "$status" = "$want" ] || fail "$name: POST $path: status '$status', want '$want': $(cat "$tmp/body")"
  [ -n "$id" ] || fail "$name: POST $path: no $id_field in $(cat "$tmp/body")"
  echo "$name: accepted, $id_field=$id, status $status" >&2
  printf '%s' "$id"
}

# await NAME PATH DONE BAD...: polls PATH until its status is DONE; fails on a BAD status, on a
# 4xx answer, or at the deadline. 5xx and no answer are retried (cold starts).
await() {
  local name="$1" path="$2" done="$3" code status="" bad
  shift 3
  local deadline=$((SECONDS + timeout))
  while :; do
    code="$(request GET "$path")"
    case "$code" in
      200)
        status="$(field status)"
        [ -n "$status" ] || status="$(field receipt.status)" # a ServiceNet receipt's
        if [ "$status" = "$done" ]; then
          echo "$name: $status: $(cat "$tmp/body")"
          return 0
        fi
        for bad in "$@"; do
          [ "$status" != "$bad" ] || fail "$name: GET $path: task ended '$status': $(cat "$tmp/body")"
        done
        ;;
      4??) fail "$name: GET $path answered $code: $(cat "$tmp/body")" ;;
      *) status="(HTTP $code)" ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || fail "$name: GET $path: still $status after ${timeout}s"
    sleep "$interval"
  done
}

echo "smoke: API $API_URL"

id="$(submit xpander /v1/agents/echo/invoke/async '{"input":{"text":"hi"}}' pending id)"
await xpander "/v1/tasks/$id" completed failed error stopped
result="$(field result)"
[ "$result" = "hi" ] || fail "xpander: result '$result', want the echoed 'hi'"

receipt="$(submit servicenet /v1/agents/echo/invoke-async '{"message":"hi"}' running receipt_id)"
await servicenet "/v1/receipts/$receipt" succeeded failed rejected

if [ -z "$EVENT_BUS" ]; then
  echo "smoke: PASS (xpander and ServiceNet flows; no EVENT_BUS, EventBridge flow skipped)"
  exit 0
fi

# EventBridge: the JSON protocol with a placeholder signature (LocalStack routes by the target and
# the credential scope, and checks no signature). The event's text is unique, so the task is found
# in the tenant's list.
text="smoke event $(date +%s)-$$"
detail="{\"agent_id\":\"echo\",\"input\":{\"text\":\"$text\"}}"
entries="{\"Entries\":[{\"EventBusName\":\"$EVENT_BUS\",\"Source\":\"agentq.smoke\",\"DetailType\":\"Invoke Agent\",\"Detail\":$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$detail")}]}"
code="$(curl -sS -o "$tmp/body" -w '%{http_code}' --max-time 40 -X POST "$AWS_ENDPOINT/" \
  -H 'X-Amz-Target: AWSEvents.PutEvents' -H 'Content-Type: application/x-amz-json-1.1' \
  -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/${AWS_REGION:-us-east-1}/events/aws4_request, SignedHeaders=host, Signature=0" \
  --data "$entries" 2>"$tmp/curl.err" || true)"
if [ "$code" != 200 ] || [ "$(field FailedEntryCount)" != 0 ]; then
  fail "eventbridge: PutEvents answered $code: $(cat "$tmp/body" "$tmp/curl.err")"
fi
echo "eventbridge: event put on $EVENT_BUS" >&2
deadline=$((SECONDS + timeout))
while :; do
  code="$(request GET "/v1/tasks?limit=50")"
  if [ "$code" = 200 ]; then
    status="$(node -e '
      const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const t = (b.items || []).find(i => i.input && i.input.text === process.argv[2]);
      process.stdout.write(t ? t.status : "");
    ' "$tmp/body" "$text")"
    case "$status" in
      completed) echo "eventbridge: the triggered task completed" >&2; break ;;
      failed | error | stopped) fail "eventbridge: the triggered task ended '$status'" ;;
    esac
  fi
  [ "$SECONDS" -lt "$deadline" ] || fail "eventbridge: no completed task for the event after ${timeout}s"
  sleep "$interval"
done

echo "smoke: PASS (xpander, ServiceNet and EventBridge flows)"
