#!/usr/bin/env bash
# Prints the newest registered revision of FAMILY, older than the running one, whose app image differs
# from the running image: the release a rollback would return to. Revisions that only repeat the same
# image (re-registrations, Terraform changes) are skipped. Usage: previous-release.sh <running ARN>.
# Needs FAMILY, CONTAINER.
set -euo pipefail

running="${1:?usage: previous-release.sh <running task definition arn>}"
image_of() {
  aws ecs describe-task-definition --task-definition "$1" --output json |
    jq -r --arg name "$CONTAINER" '.taskDefinition.containerDefinitions[] | select(.name == $name) | .image'
}

current_image=$(image_of "$running")
current_revision=${running##*:}
# Newest first; ACTIVE only: deregistered revisions cannot be deployed.
mapfile -t revisions < <(aws ecs list-task-definitions --family-prefix "$FAMILY" --status ACTIVE \
  --sort DESC --query 'taskDefinitionArns[]' --output text | tr '\t' '\n')
for arn in "${revisions[@]}"; do
  ((${arn##*:} < current_revision)) || continue
  image=$(image_of "$arn")
  if [[ "$image" != "$current_image" ]]; then
    echo "$arn"
    exit 0
  fi
done
echo "::error::no earlier ACTIVE revision of $FAMILY runs a different image than $current_image" >&2
exit 1
