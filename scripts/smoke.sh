#!/usr/bin/env bash
# Smoke test of the local stack, with a real Docker engine (`make smoke`; CI's build job runs it on the
# image it built). In a compose project of its own, on free loopback ports, it
#  1. brings the stack up and waits for every service to be healthy (`docker compose up --build --wait`;
#     with an image argument, that image instead of a local build: `--no-build`);
#  2. checks the app container: non-root user, read-only root filesystem, writable /tmp;
#  3. makes the README's quick-start calls: readiness, sign-up, an order, and its idempotent replay
#     (same order, `Idempotent-Replayed: true`);
#  4. reads /metrics on the metrics port (and not on the API port);
#  5. checks that every log line of app and migrate is a JSON object;
#  6. stops app and expects exit code 0 within its stop_grace_period;
#  7. removes the stack and its volumes (`docker compose down -v`), however it ended.
# Without a Docker engine it says so and skips (exit 0); with an image argument (CI) it fails instead.
# Usage: scripts/smoke.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-}
if ! docker info >/dev/null 2>&1; then
  if [[ -n "$image" ]]; then
    echo "smoke: no Docker engine answers (docker info failed): cannot test $image" >&2
    exit 1
  fi
  echo "smoke: SKIPPED: no Docker engine answers (docker info failed); start one and run make smoke again"
  exit 0
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The developer's own stack (project orders-api, the default ports, its volumes) is never touched.
export COMPOSE_PROJECT_NAME=orders-api-smoke
APP_PORT=$(free_port) APP_METRICS_PORT=$(free_port) POSTGRES_HOST_PORT=$(free_port) REDIS_HOST_PORT=$(free_port)
export APP_PORT APP_METRICS_PORT POSTGRES_HOST_PORT REDIS_HOST_PORT
# .env.example's placeholders, whether or not a .env exists: the stack under test is the documented one.
compose=(docker compose --env-file .env.example -f docker-compose.yml)
up=(up --detach --wait --wait-timeout 300)
if [[ -n "$image" ]]; then
  export SMOKE_IMAGE=$image
  compose+=(-f .github/smoke/compose.yaml)
  up+=(--no-build)
else
  up+=(--build)
fi
api_key=$(sed -n 's/^API_KEYS=\([^,]*\).*/\1/p' .env.example)
api=http://127.0.0.1:$APP_PORT
metrics=http://127.0.0.1:$APP_METRICS_PORT

fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
cleanup() {
  local status=$?
  if ((status != 0)); then "${compose[@]}" logs --no-color --tail 200 || true; fi
  "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT

echo "smoke: docker compose ${up[*]}"
"${compose[@]}" "${up[@]}" app

container=$("${compose[@]}" ps -q app)
user=$(docker inspect --format '{{.Config.User}}' "$container")
[[ -n "$user" && "$user" != root && "$user" != 0 && "$user" != 0:* ]] || fail "app runs as '${user:-root}' (D5)"
[[ "$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$container")" == true ]] ||
  fail "the app container's root filesystem is not read-only (D6)"
if "${compose[@]}" exec -T app python -c "open('/app/probe', 'w')" 2>/dev/null; then
  fail "the app could write to its root filesystem (D6)"
fi
"${compose[@]}" exec -T app python -c "open('/tmp/probe', 'w').write('ok')" || fail "/tmp is not writable (D6)"
echo "smoke: user $user, read-only root, writable /tmp"

# call METHOD URL EXPECTED_STATUS [curl options...]: prints the body; headers go to $headers.
headers=$(mktemp)
call() {
  local method=$1 url=$2 expected=$3 body status
  shift 3
  body=$(curl --silent --show-error --max-time 10 --request "$method" --dump-header "$headers" \
    --write-out '\n%{http_code}' "$@" "$url") || fail "$method $url: no answer"
  status=${body##*$'\n'}
  [[ "$status" == "$expected" ]] || fail "$method $url answered $status, expected $expected: ${body%$'\n'*}"
  echo "smoke: $method $url -> $status" >&2
  printf '%s' "${body%$'\n'*}"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
json=(-H "X-API-Key: $api_key" -H "Content-Type: application/json")

call GET "$api/health/ready" 200 >/dev/null
customer=$(call POST "$api/v1/customers" 201 "${json[@]}" \
  -d "{\"email\": \"smoke-$RANDOM$RANDOM@example.com\", \"name\": \"Ann\", \"beta_group\": true}" | field id)
order='{"customer_id": "'"$customer"'", "items": [{"sku": "A-1", "quantity": 2, "unit_price_cents": 1250}]}'
key="smoke-$RANDOM$RANDOM"
first=$(call POST "$api/v1/orders" 201 "${json[@]}" -H "Idempotency-Key: $key" -d "$order" | field id)
replay=$(call POST "$api/v1/orders" 201 "${json[@]}" -H "Idempotency-Key: $key" -d "$order" | field id)
[[ "$replay" == "$first" ]] || fail "the replayed order is $replay, the first was $first"
grep -qi '^idempotent-replayed: true' "$headers" || fail "the replay has no Idempotent-Replayed: true header"
call GET "$api/v1/orders/$first" 200 -H "X-API-Key: $api_key" >/dev/null
echo "smoke: customer $customer, order $first, replayed with the same id"

exposition=$(call GET "$metrics/metrics" 200)
[[ "$exposition" == *"# TYPE "* ]] || fail "the metrics port serves no Prometheus exposition"
call GET "$api/metrics" 404 >/dev/null

grace=$("${compose[@]}" config --format json app | python3 -c '
import json, re, sys
value = json.load(sys.stdin)["services"]["app"].get("stop_grace_period", "10s")
print(int(re.fullmatch(r"(\d+)s", value)[1]))')
started=$SECONDS
"${compose[@]}" stop app >/dev/null
took=$((SECONDS - started))
code=$(docker inspect --format '{{.State.ExitCode}}' "$container")
((code == 0)) || fail "app exited with $code on SIGTERM, expected 0"
((took < grace)) || fail "app took ${took}s to stop: its grace period is ${grace}s"
echo "smoke: app stopped with exit code 0 in ${took}s (grace ${grace}s)"

# Last, so the lines of the shutdown are checked too.
"${compose[@]}" logs --no-color --no-log-prefix app migrate | python3 -c '
import json, sys

def is_object(line):
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False

lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
bad = [line for line in lines if not is_object(line)]
if not lines:
    sys.exit("smoke: FAILED: app and migrate logged nothing")
if bad:
    sys.exit("smoke: FAILED: log lines that are not JSON objects:\n" + "\n".join(bad[:20]))
print(f"smoke: {len(lines)} log lines from app and migrate, every one a JSON object")'
rm -f "$headers"
echo "smoke: passed${image:+ for $image}"
