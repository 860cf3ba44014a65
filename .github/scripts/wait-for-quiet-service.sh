#!/usr/bin/env bash
# Waits until no deployment of the service is in progress: deploys, rollbacks and the rollback drill
# run in concurrency groups of their own (GitHub keeps one pending job per group and cancels the one
# before it, so a shared group would let a later deploy cancel a queued rollback), and each waits
# here before it moves the service. ECS controller: one deployment, rollout COMPLETED. CODE_DEPLOY:
# no deployment of the group created, queued, in progress or ready. CodeDeploy itself refuses a
# second deployment of a group while one is active, so two runs that pass this wait together
# cannot both switch the service.
# Needs CLUSTER, SERVICE, FAMILY (the CodeDeploy application and group). WAIT_TIMEOUT (default 2700) s.
set -euo pipefail

deadline=$((SECONDS + ${WAIT_TIMEOUT:-2700}))
while :; do
  read -r controller deployments rollout < <(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
    --query 'services[0].[deploymentController.type, length(deployments), deployments[0].rolloutState]' --output text)
  if [[ "$controller" == "CODE_DEPLOY" ]]; then
    active=$(aws deploy list-deployments --application-name "$FAMILY" --deployment-group-name "$FAMILY" \
      --include-only-statuses Created Queued InProgress Ready --query 'length(deployments)' --output text)
    [[ "$active" == "0" ]] && break
  elif [[ "$deployments" == "1" && "$rollout" == "COMPLETED" ]]; then
    break
  fi
  if ((SECONDS >= deadline)); then
    echo "::error::$CLUSTER/$SERVICE is still being deployed after ${WAIT_TIMEOUT:-2700} s; try again when it is done"
    exit 1
  fi
  echo "$CLUSTER/$SERVICE: a deployment is in progress; waiting"
  sleep 30
done
echo "$CLUSTER/$SERVICE: no deployment in progress"
