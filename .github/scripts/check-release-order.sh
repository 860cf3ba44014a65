#!/usr/bin/env bash
# Stops a deploy that would take the environment backwards: the commit of the newest deploy in the
# release record (record-release.sh) must be this run's commit or one of its ancestors. An older run
# that reaches its deploy after a newer one (slower tests, a re-run) fails here, before it registers
# or migrates anything. Runs inside the environment's deploy concurrency group, so nothing deploys
# between this check and the deploy. Needs GITHUB_SHA, FAMILY and the full git history.
set -euo pipefail

parameter=${RELEASE_PARAMETER:-/${FAMILY%-*}/${FAMILY##*-}/release}

if ! history=$(aws ssm get-parameter-history --name "$parameter" --output json 2>/dev/null); then
  echo "No release recorded in $parameter yet: nothing to be newer than"
  exit 0
fi
latest=$(jq -r '[.Parameters | sort_by(.Version)[].Value | try fromjson catch empty | select(type == "object" and .kind == "deploy")] | last | .commit // ""' <<<"$history")
if [[ -z "$latest" ]]; then
  echo "No deploy recorded in $parameter yet: nothing to be newer than"
  exit 0
fi

status=0
git merge-base --is-ancestor "$latest" "$GITHUB_SHA" 2>/dev/null || status=$?
case "$status" in
  0) echo "The newest deploy ($latest) is $GITHUB_SHA or one of its ancestors: going ahead" ;;
  1)
    echo "::error::a newer commit ($latest) is already deployed; $GITHUB_SHA is older or not on its line." \
      "Deploys never go backwards: roll back with the Rollback workflow instead."
    exit 1
    ;;
  *)
    echo "::error::the deployed commit $latest is not in this repository's history (checkout needs fetch-depth: 0)"
    exit 1
    ;;
esac
