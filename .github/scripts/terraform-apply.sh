#!/usr/bin/env bash
# Applies exactly the saved plan that was reviewed: terraform-apply.sh <dev|staging|prod>.
# Expects tfplan, .terraform.lock.hcl and changes.txt (from the plan job's artifact) in
# terraform/environments/<env>/. Never plans again: a stale plan fails instead of applying something new.
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
terraform -chdir="$dir" apply -input=false -no-color tfplan
