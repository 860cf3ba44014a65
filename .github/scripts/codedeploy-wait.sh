#!/usr/bin/env bash
# Follows a CodeDeploy blue-green or canary deployment of the ECS service.
#   codedeploy-wait.sh traffic   until the new revision's task set is PRIMARY (all traffic on it),
#                                while the old task set still runs: the smoke test goes here, so a
#                                failure can still switch traffic back at once.
#   codedeploy-wait.sh complete  until the deployment succeeded: bake time over, alarms quiet, old
#                                tasks terminated. CodeDeploy keeps watching the alarms until then.
# Fails as soon as the deployment failed or was stopped. Needs DEPLOYMENT_ID, CLUSTER, SERVICE and,
# for `traffic`, TASK_DEFINITION (the new revision). WAIT_TIMEOUT seconds (default 3600), POLL_SECONDS (15).
set -euo pipefail

phase="${1:?usage: codedeploy-wait.sh traffic|complete}"
deadline=$((SECONDS + ${WAIT_TIMEOUT:-3600}))

while :; do
  status=$(aws deploy get-deployment --deployment-id "$DEPLOYMENT_ID" --query 'deploymentInfo.status' --output text)
  case "$status" in
    Failed | Stopped)
      echo "::error::CodeDeploy deployment $DEPLOYMENT_ID is $status (an alarm, a failed health check or a stop)"
      exit 1
      ;;
    Succeeded)
      echo "CodeDeploy deployment $DEPLOYMENT_ID succeeded"
      exit 0
      ;;
  esac
  if [[ "$phase" == "traffic" ]]; then
    primary=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
      --query "services[0].taskSets[?status=='PRIMARY'].taskDefinition | [0]" --output text)
    if [[ "$primary" == "$TASK_DEFINITION" ]]; then
      echo "All traffic is on ${TASK_DEFINITION##*/}; the previous task set is still running"
      exit 0
    fi
  fi
  if ((SECONDS >= deadline)); then
    echo "::error::CodeDeploy deployment $DEPLOYMENT_ID still $status after ${WAIT_TIMEOUT:-3600}s ($phase)"
    exit 1
  fi
  sleep "${POLL_SECONDS:-15}"
done
