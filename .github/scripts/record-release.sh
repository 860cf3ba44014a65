#!/usr/bin/env bash
# Appends a release to the environment's release record, the SSM parameter RELEASE_PARAMETER (default
# /orders-api/<env>/release, from FAMILY). Each version of the parameter is one release the service ran
# and served with: Parameter Store keeps the versions as its history, so the record survives any
# number of task definition revisions Terraform registers in between.
#   record-release.sh deploy <task definition ARN>               after a deploy passed every check
#   record-release.sh rollback <task definition ARN> <replaced>  after a rollback away from <replaced>,
#                                                                so that release is never a target again
# A value is {"kind", "taskDefinition", "digest"} plus "commit" (deploy: GITHUB_SHA) or "replaced" (the
# digest rolled back from). Needs FAMILY, CONTAINER.
set -euo pipefail

kind="${1:?usage: record-release.sh deploy|rollback <task definition arn> [replaced arn]}"
arn="${2:?usage: record-release.sh deploy|rollback <task definition arn> [replaced arn]}"
parameter=${RELEASE_PARAMETER:-/${FAMILY%-*}/${FAMILY##*-}/release}

image_of() {
  aws ecs describe-task-definition --task-definition "$1" --output json |
    jq -r --arg name "$CONTAINER" '.taskDefinition.containerDefinitions[] | select(.name == $name) | .image'
}
digest_of() { # the app container's image digest; a release is always an image by digest
  local image
  image=$(image_of "$1")
  [[ "$image" =~ @(sha256:[0-9a-f]{64})$ ]] || { echo "::error::${1##*/} runs $image, not an image by digest" >&2; return 1; }
  echo "${BASH_REMATCH[1]}"
}

digest=$(digest_of "$arn")
case "$kind" in
  deploy)
    value=$(jq -cn --arg td "$arn" --arg digest "$digest" --arg commit "${GITHUB_SHA:?}" \
      '{kind: "deploy", taskDefinition: $td, digest: $digest, commit: $commit}')
    ;;
  rollback)
    # The digest left behind (or the whole image, for a revision Terraform registered by tag).
    replaced=$(image_of "${3:?usage: record-release.sh rollback <task definition arn> <replaced arn>}")
    replaced=${replaced##*@}
    value=$(jq -cn --arg td "$arn" --arg digest "$digest" --arg replaced "$replaced" \
      '{kind: "rollback", taskDefinition: $td, digest: $digest, replaced: $replaced}')
    ;;
  *) echo "::error::unknown release kind '$kind' (deploy or rollback)"; exit 1 ;;
esac
aws ssm put-parameter --name "$parameter" --type String --overwrite --value "$value" >/dev/null
echo "Recorded in $parameter: $value"
