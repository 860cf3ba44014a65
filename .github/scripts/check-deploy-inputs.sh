#!/usr/bin/env bash
# Fails a deploy early, with a clear message, when its inputs or the environment's variables are
# missing or malformed (docs/ci-cd.md lists them). Reads IMAGE_DIGEST, STRATEGY and SERVICE_URL.
set -euo pipefail

errors=0
fail() { echo "::error::$1"; errors=$((errors + 1)); }

[[ "${IMAGE_DIGEST:-}" =~ ^sha256:[0-9a-f]{64}$ ]] ||
  fail "image digest '${IMAGE_DIGEST:-}' is not sha256:<64 hex>: deploys go by digest, never by tag"
case "${STRATEGY:-}" in
  rolling | blue_green | canary) ;;
  *) fail "DEPLOY_STRATEGY '${STRATEGY:-}' must be rolling, blue_green or canary (environment variable)" ;;
esac
[[ "${SERVICE_URL:-}" =~ ^https://[^/[:space:]]+$ ]] ||
  fail "SERVICE_URL '${SERVICE_URL:-}' must be https://host with no path (environment variable)"

((errors == 0)) || exit 1
echo "strategy=$STRATEGY digest=$IMAGE_DIGEST url=$SERVICE_URL"
