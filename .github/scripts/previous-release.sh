#!/usr/bin/env bash
# Prints the task definition of the release to roll back to: the newest release in the environment's
# record (record-release.sh) whose image digest is not the running one, skipping releases a later
# rollback left and revisions no longer ACTIVE. The record, not the family's revision list, decides:
# Terraform registers revisions of its own (image by tag) between deploys, and none of them is a
# release. Usage: previous-release.sh <running task definition ARN>. Needs FAMILY, CONTAINER.
set -euo pipefail

running="${1:?usage: previous-release.sh <running task definition arn>}"
parameter=${RELEASE_PARAMETER:-/${FAMILY%-*}/${FAMILY##*-}/release}

definition() { aws ecs describe-task-definition --task-definition "$1" --output json; }
running_image=$(definition "$running" |
  jq -r --arg name "$CONTAINER" '.taskDefinition.containerDefinitions[] | select(.name == $name) | .image')
running_digest=${running_image##*@}

if ! history=$(aws ssm get-parameter-history --name "$parameter" --output json); then
  echo "::error::no release record in $parameter yet: pass the revision to return to explicitly" >&2
  exit 1
fi
# Newest first. A rollback record marks the release it replaced as bad for every older record.
mapfile -t candidates < <(jq -r --arg running "$running_digest" '
  [.Parameters | sort_by(.Version) | reverse[].Value | try fromjson catch empty | select(type == "object" and .digest and .taskDefinition)]
  | reduce .[] as $r ({bad: [], out: []};
      .bad as $bad
      | (if $r.digest != $running and ($r.digest | IN($bad[]) | not) then .out += [$r.taskDefinition] else . end)
      | if $r.kind == "rollback" and $r.replaced then .bad += [$r.replaced] else . end)
  | .out[]' <<<"$history")

for arn in "${candidates[@]}"; do
  status=$(definition "$arn" | jq -r '.taskDefinition.status')
  if [[ "$status" == "ACTIVE" ]]; then
    echo "$arn"
    exit 0
  fi
  echo "::warning::skipping ${arn##*/}: the revision is $status" >&2
done
echo "::error::$parameter holds no other ACTIVE release than the running $running_digest" >&2
exit 1
