#!/usr/bin/env bash
# Init, validate and plan one Terraform environment: terraform-plan.sh <dev|staging|prod>.
# Leaves its text (plan.txt, sensitive values redacted), the changes by address (changes.json) and the
# saved plan (tfplan) in terraform/environments/<env>/, and writes `changes=true|false` and
# `secrets=true|false` to $GITHUB_OUTPUT. A saved plan that carries a secret is deleted here, before
# any step could upload it (terraform-plan-check.sh). Exits non-zero only when Terraform itself fails.
# Plans run without the state lock: the plan role is read-only, and applying a saved plan refuses to
# run if the state moved since (Terraform's "saved plan is stale" check).
# PLAN_REFRESH (default false): the plan role may not read secret values, and refreshing a secret
# version reads its value, so pull-request and main plans compare the code with the state as it is. The
# scheduled drift check, on the drift role, sets PLAN_REFRESH=true to compare with AWS.
set -euo pipefail

env="${1:?usage: terraform-plan.sh <environment>}"
dir="terraform/environments/$env"
refresh="${PLAN_REFRESH:-false}"
[[ -d "$dir" ]] || { echo "::error::no Terraform root at $dir"; exit 1; }
[[ "$refresh" == true || "$refresh" == false ]] || { echo "::error::PLAN_REFRESH is true or false"; exit 1; }

# The backend block names the key; bucket and region come from here (terraform/bootstrap creates the bucket).
terraform -chdir="$dir" init -input=false -no-color \
  -backend-config="bucket=${TF_STATE_BUCKET:?set the TF_STATE_BUCKET repository variable}" \
  -backend-config="region=${AWS_REGION:?configure-aws-credentials sets AWS_REGION}"
terraform -chdir="$dir" validate -no-color

status=0
terraform -chdir="$dir" plan -input=false -lock=false -refresh="$refresh" -no-color -detailed-exitcode -out=tfplan || status=$?
case "$status" in
  0) changes=false ;;
  2) changes=true ;;
  *) echo "::error::terraform plan failed for $env"; exit 1 ;;
esac
terraform -chdir="$dir" show -no-color tfplan >"$dir/plan.txt"
"$(dirname "$0")/terraform-plan-check.sh" "$dir"
if grep -qx "secrets=true" "$GITHUB_OUTPUT"; then
  rm "$dir/tfplan"
fi
echo "changes=$changes" >>"$GITHUB_OUTPUT"
echo "$env: changes=$changes"
