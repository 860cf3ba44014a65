#!/usr/bin/env bash
# Rolls a failed deploy back to the task definition that was running before it, exactly once.
# CodeDeploy (blue-green, canary): a deployment still in flight is stopped with auto-rollback, which
# sends traffic back to the original task set at once. A deployment that failed or stopped with
# auto-rollback on gets a rollback deployment from CodeDeploy itself: this script waits until that
# deployment's ID appears and follows it, or until CodeDeploy says it will not roll back, and only
# then switches on its own; two rollbacks at once would fight over the task sets. A deployment that
# succeeded is reverted by switching to the previous revision. Rolling: switch to the previous revision.
# Needs CLUSTER, SERVICE, FAMILY, CONTAINER, PREVIOUS_TASK_DEFINITION; DEPLOYMENT_ID for CodeDeploy
# (without it, the deployment group's deployment in flight, if any).
# ROLLBACK_START_TIMEOUT seconds (default 300) for CodeDeploy's rollback to appear; POLL_SECONDS (5).
set -euo pipefail

here=$(dirname "$0")
poll=${POLL_SECONDS:-5}
echo "::warning::rolling $CLUSTER/$SERVICE back to ${PREVIOUS_TASK_DEFINITION##*/}"

controller=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].deploymentController.type' --output text)
if [[ -z "${DEPLOYMENT_ID:-}" && "$controller" == "CODE_DEPLOY" ]]; then
  # A deploy cancelled while it started CodeDeploy has no deployment ID: look for one in flight.
  DEPLOYMENT_ID=$(aws deploy list-deployments --application-name "$FAMILY" --deployment-group-name "$FAMILY" \
    --include-only-statuses Created Queued InProgress Ready Baking --query 'deployments[0]' --output text)
  [[ "$DEPLOYMENT_ID" == "None" ]] && DEPLOYMENT_ID=""
fi

if [[ -n "${DEPLOYMENT_ID:-}" ]]; then
  deployment() { aws deploy get-deployment --deployment-id "$DEPLOYMENT_ID" --output json; }
  status=$(deployment | jq -r '.deploymentInfo.status')
  echo "CodeDeploy deployment $DEPLOYMENT_ID is $status"
  case "$status" in
    Created | Queued | InProgress | Ready | Baking)
      aws deploy stop-deployment --deployment-id "$DEPLOYMENT_ID" --auto-rollback-enabled
      expect_rollback=true
      ;;
    Failed | Stopped)
      expect_rollback=$(deployment | jq -r '.deploymentInfo.autoRollbackConfiguration.enabled // false')
      ;;
    *) expect_rollback=false ;;
  esac

  if [[ "$expect_rollback" == "true" ]]; then
    deadline=$((SECONDS + ${ROLLBACK_START_TIMEOUT:-300}))
    while :; do
      info=$(deployment)
      rollback=$(jq -r '.deploymentInfo.rollbackInfo.rollbackDeploymentId // ""' <<<"$info")
      message=$(jq -r '.deploymentInfo.rollbackInfo.rollbackMessage // ""' <<<"$info")
      status=$(jq -r '.deploymentInfo.status' <<<"$info")
      if [[ -n "$rollback" ]]; then
        echo "CodeDeploy rolls back with deployment $rollback; following it"
        DEPLOYMENT_ID="$rollback" "$here/codedeploy-wait.sh" complete
        echo "Rolled back by CodeDeploy"
        exit 0
      fi
      if [[ "$status" =~ ^(Failed|Stopped|Succeeded)$ && -n "$message" ]]; then
        echo "CodeDeploy does not roll back ($message); switching back here"
        break
      fi
      if ((SECONDS >= deadline)); then
        # Switching now could race a rollback CodeDeploy is about to start: leave it to a person.
        echo "::error::CodeDeploy deployment $DEPLOYMENT_ID is $status with no rollback deployment and no" \
          "rollback message after ${ROLLBACK_START_TIMEOUT:-300}s: follow runbooks/rollback.md"
        exit 1
      fi
      sleep "$poll"
    done
  fi
fi

"$here/ecs-switch.sh" "$PREVIOUS_TASK_DEFINITION"
