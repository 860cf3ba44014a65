#!/usr/bin/env bash
# Rolls a failed deploy back to the task definition that was running before it.
# CodeDeploy (blue-green, canary): a deployment still in flight is stopped with auto-rollback, which
# sends traffic back to the original task set at once; one that already finished (or had no
# rollback) is reverted by switching to the previous revision. Rolling: switch to the previous revision.
# Needs CLUSTER, SERVICE, FAMILY, CONTAINER, PREVIOUS_TASK_DEFINITION; DEPLOYMENT_ID for CodeDeploy.
set -euo pipefail

here=$(dirname "$0")
echo "::warning::rolling $CLUSTER/$SERVICE back to ${PREVIOUS_TASK_DEFINITION##*/}"

if [[ -n "${DEPLOYMENT_ID:-}" ]]; then
  status=$(aws deploy get-deployment --deployment-id "$DEPLOYMENT_ID" --query 'deploymentInfo.status' --output text)
  echo "CodeDeploy deployment $DEPLOYMENT_ID is $status"
  case "$status" in
    Created | Queued | InProgress | Ready | Baking)
      aws deploy stop-deployment --deployment-id "$DEPLOYMENT_ID" --auto-rollback-enabled
      ;;
  esac
  # Stopped or failed with auto-rollback: CodeDeploy runs a rollback deployment; wait for it.
  for _ in $(seq 60); do
    rollback=$(aws deploy get-deployment --deployment-id "$DEPLOYMENT_ID" \
      --query 'deploymentInfo.rollbackInfo.rollbackDeploymentId' --output text)
    status=$(aws deploy get-deployment --deployment-id "$DEPLOYMENT_ID" --query 'deploymentInfo.status' --output text)
    [[ "$rollback" != "None" || "$status" == "Succeeded" || "$status" == "Failed" || "$status" == "Stopped" ]] && break
    sleep 5
  done
  if [[ -n "$rollback" && "$rollback" != "None" ]]; then
    echo "Waiting for rollback deployment $rollback"
    DEPLOYMENT_ID="$rollback" "$here/codedeploy-wait.sh" complete
    echo "Rolled back by CodeDeploy"
    exit 0
  fi
fi

"$here/ecs-switch.sh" "$PREVIOUS_TASK_DEFINITION"
