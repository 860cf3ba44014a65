#!/usr/bin/env bash
# Smoke test of a deployed environment: GET <url>/health/ready must answer 200 several times in a row
# (one lucky answer from an old task proves little). Usage: smoke-service.sh https://host
# SMOKE_TIMEOUT seconds (default 180), SMOKE_PASSES in a row (default 5).
set -euo pipefail

url="${1:?usage: smoke-service.sh <service url>}/health/ready"
timeout=${SMOKE_TIMEOUT:-180}
needed=${SMOKE_PASSES:-5}

passes=0
deadline=$((SECONDS + timeout))
while ((passes < needed)); do
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 5 "$url" || true)
  if [[ "$code" == "200" ]]; then
    passes=$((passes + 1))
  else
    passes=0
    echo "$url answered $code"
  fi
  if ((SECONDS >= deadline)); then
    echo "::error::$url did not answer 200 $needed times in a row within ${timeout}s"
    exit 1
  fi
  sleep 2
done
echo "$url: 200 x $needed"
