#!/usr/bin/env bash
# Smoke test of a freshly built image, before it may be pushed anywhere:
#  1. it runs as a non-root user;
#  2. in the full local stack (docker-compose.yml: postgres, redis, migrate, app), which runs it with a
#     read-only root filesystem and a tmpfs /tmp, `docker compose up --wait` turns healthy;
#  3. the root filesystem really is read-only (--read-only) and /tmp is writable (--tmpfs /tmp);
#  4. readiness answers 200 on :8000 and the metrics listener serves /metrics on :9000 only.
# Usage: smoke-image.sh <image>
set -euo pipefail

export SMOKE_IMAGE="${1:?usage: smoke-image.sh <image>}"
# Throwaway values for a stack that lives for this script only (compose requires them).
export POSTGRES_PASSWORD=ci-smoke-only
export API_KEYS=ci-smoke-key-not-a-secret
export GRAFANA_ADMIN_PASSWORD=ci-smoke-only # interpolated even though its profile stays off
cd "$(dirname "$0")/../.."
compose=(docker compose -f docker-compose.yml -f .github/smoke/compose.yaml)

user=$(docker image inspect --format '{{.Config.User}}' "$SMOKE_IMAGE")
if [[ -z "$user" || "$user" == "root" || "$user" == 0 || "$user" == 0:* ]]; then
  echo "::error::$SMOKE_IMAGE runs as '${user:-root}': the image must set a non-root USER (D5)"
  exit 1
fi

cleanup() {
  status=$?
  if ((status != 0)); then "${compose[@]}" logs --no-color || true; fi
  "${compose[@]}" down --volumes --remove-orphans || true
  exit "$status"
}
trap cleanup EXIT

"${compose[@]}" up --detach --no-build --wait --wait-timeout 180 app

readonly_root=$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$("${compose[@]}" ps -q app)")
[[ "$readonly_root" == "true" ]] || { echo "::error::app container is not read-only (D6)"; exit 1; }
if "${compose[@]}" exec -T app python -c "open('/app/probe', 'w')" 2>/dev/null; then
  echo "::error::the app could write to its root filesystem (D6)"
  exit 1
fi
"${compose[@]}" exec -T app python -c "open('/tmp/probe', 'w').write('ok')"

expect() { # <url> <status>
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 5 "$1" || true)
  [[ "$code" == "$2" ]] || { echo "::error::$1 answered $code, expected $2"; exit 1; }
  echo "$1 -> $code"
}
expect http://127.0.0.1:8000/health/live 200
expect http://127.0.0.1:8000/health/ready 200
expect http://127.0.0.1:9000/metrics 200
expect http://127.0.0.1:8000/metrics 404
echo "smoke test passed for $SMOKE_IMAGE"
