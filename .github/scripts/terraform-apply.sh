#!/usr/bin/env bash
# Applies what was reviewed: terraform-apply.sh <dev|staging|prod>. Expects changes.txt, changes.json
# and .terraform.lock.hcl (the plan job's artifact) in terraform/environments/<env>/, and tfplan with
# them unless that plan carried a secret (terraform-plan-check.sh keeps such a plan off the artifact).
# With tfplan: applies exactly it; a stale plan fails instead of applying something new. Without:
# plans again here and applies only if that plan makes the same changes (addresses and actions) as
# the reviewed one. Never applies changes nobody saw.
set -euo pipefail

env="${1:?usage: terraform-apply.sh <environment>}"
dir="terraform/environments/$env"
if [[ "$(cat "$dir/changes.txt")" != "true" ]]; then
  echo "$env: the plan has no changes; nothing to apply"
  exit 0
fi
# The lock file from the plan run: the same provider builds the plan was made with.
terraform -chdir="$dir" init -input=false -no-color -lockfile=readonly \
  -backend-config="bucket=${TF_STATE_BUCKET:?set the TF_STATE_BUCKET repository variable}" \
  -backend-config="region=${AWS_REGION:?configure-aws-credentials sets AWS_REGION}"
if [[ ! -f "$dir/tfplan" ]]; then
  echo "$env: the reviewed plan carried a secret and was not uploaded; planning again to compare"
  mv "$dir/changes.json" "$dir/reviewed.json"
  # -refresh=false, as the reviewed plan was made: both compare the code with the state, so drift
  # (which the daily drift check reports) never makes them differ and blocks every apply.
  terraform -chdir="$dir" plan -input=false -refresh=false -no-color -out=tfplan >/dev/null
  GITHUB_OUTPUT=/dev/null "$(dirname "$0")/terraform-plan-check.sh" "$dir" >/dev/null
  if ! diff <(jq -S . "$dir/reviewed.json") <(jq -S . "$dir/changes.json"); then
    echo "::error::$env: the infrastructure moved since the reviewed plan (changes above); re-run the workflow to plan again"
    exit 1
  fi
fi
terraform -chdir="$dir" apply -input=false -no-color tfplan
