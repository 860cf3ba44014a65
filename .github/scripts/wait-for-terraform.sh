#!/usr/bin/env bash
# Infrastructure before application: holds an app deploy of STAGE until Terraform has applied this
# commit and every earlier one there. Every Terraform run (terraform.yml) on main for this commit, or
# created before this run, must be done with STAGE (its "Apply <stage>" job finished, or the run
# finished); then the newest of them must have applied it. Runs waiting only on another
# environment's apply (prod's reviewers) do not hold this one. The deploy renders the image into
# the family's newest revision, so it ships the task definition that apply registered.
# Needs GH_TOKEN (actions: read), GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_RUN_ID, STAGE;
# TERRAFORM_WAIT_TIMEOUT seconds (default 3300), POLL_SECONDS (default 30).
set -euo pipefail

timeout=${TERRAFORM_WAIT_TIMEOUT:-3300}
api="repos/$GITHUB_REPOSITORY/actions"
created=$(gh api "$api/runs/$GITHUB_RUN_ID" --jq .created_at)
deadline=$((SECONDS + timeout))

apply_job() { # <run id>: "<status> <conclusion>" of its Apply <stage> job, "absent absent" before it exists
  gh api "$api/runs/$1/jobs?per_page=100" | jq -r --arg stage "$STAGE" '
    [.jobs[] | select(.name | test("(^|/ )Apply \($stage)$"))][0] // {}
    | "\(.status // "absent") \(.conclusion // "absent")"'
}

while :; do
  # Newest first; only runs of this commit or created before this run can be ahead of it.
  runs=$(gh api "$api/workflows/terraform.yml/runs?branch=main&event=push&per_page=50" |
    jq -c --arg sha "$GITHUB_SHA" --arg created "$created" \
      '[.workflow_runs[] | select(.head_sha == $sha or .created_at <= $created)] | sort_by(.created_at) | reverse')
  pending=()
  while read -r id sha; do
    read -r status _ < <(apply_job "$id")
    [[ "$status" == "completed" ]] || pending+=("${sha:0:7}")
  done < <(jq -r '.[] | select(.status != "completed") | "\(.id) \(.head_sha)"' <<<"$runs")
  ((${#pending[@]} == 0)) && break
  if ((SECONDS >= deadline)); then
    echo "::error::Terraform has not finished with $STAGE after ${timeout}s (runs at ${pending[*]}). Deploy after it applies."
    exit 1
  fi
  echo "Waiting for Terraform to apply $STAGE (runs at ${pending[*]})"
  sleep "${POLL_SECONDS:-30}"
done

newest=$(jq -r '.[0].id // ""' <<<"$runs")
if [[ -z "$newest" ]]; then
  echo "No Terraform run on main up to this commit: nothing to wait for"
  exit 0
fi
sha=$(jq -r '.[0].head_sha[:7]' <<<"$runs")
read -r _ conclusion < <(apply_job "$newest")
if [[ "$conclusion" != "success" ]]; then
  echo "::error::Terraform at $sha did not apply $STAGE (Apply $STAGE: $conclusion). The app deploys only" \
    "onto applied infrastructure: fix or re-run that apply, then re-run this deploy."
  exit 1
fi
echo "Terraform at $sha applied $STAGE: deploying onto it"
