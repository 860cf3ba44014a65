#!/usr/bin/env bash
# Puts the service on an exact, already registered task definition and waits until it is serving:
# through update-service for the ECS (rolling) controller, through an all-at-once CodeDeploy
# deployment for blue-green and canary services. Rollbacks and the rollback drill use it.
# Usage: ecs-switch.sh <task definition ARN>. Needs CLUSTER, SERVICE, FAMILY, CONTAINER.
# CodeDeploy waits: TRAFFIC_TIMEOUT (default 900) s for the traffic shift, then COMPLETE_TIMEOUT (default
# 2280) s for the old task set's termination, together inside one hour of AWS credentials; with
# SWITCH_WAIT=traffic it returns once the traffic is on the target and CodeDeploy finishes alone.
set -euo pipefail

target="${1:?usage: ecs-switch.sh <task definition arn>}"
here=$(dirname "$0")
[[ "$target" =~ ^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[A-Za-z0-9_-]+:[0-9]+$ ]] ||
  { echo "::error::not a task definition ARN: $target"; exit 1; }

controller=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].deploymentController.type' --output text)
echo "Switching $CLUSTER/$SERVICE ($controller) to $target"

if [[ "$controller" == "CODE_DEPLOY" ]]; then
  # Container port 8000: docs/architecture.md. All at once: a rollback should not crawl through a canary.
  appspec=$(jq -cn --arg td "$target" --arg name "$CONTAINER" '{
    version: "0.0",
    Resources: [{TargetService: {Type: "AWS::ECS::Service", Properties: {
      TaskDefinition: $td, LoadBalancerInfo: {ContainerName: $name, ContainerPort: 8000}}}}]}')
  revision=$(jq -cn --arg content "$appspec" '{revisionType: "AppSpecContent", appSpecContent: {content: $content}}')
  deployment=$(aws deploy create-deployment --application-name "$FAMILY" --deployment-group-name "$FAMILY" \
    --deployment-config-name CodeDeployDefault.ECSAllAtOnce --revision "$revision" \
    --description "switch to ${target##*/}" --query deploymentId --output text)
  echo "CodeDeploy deployment $deployment"
  DEPLOYMENT_ID="$deployment" TASK_DEFINITION="$target" WAIT_TIMEOUT="${TRAFFIC_TIMEOUT:-900}" \
    "$here/codedeploy-wait.sh" traffic
  if [[ "${SWITCH_WAIT:-complete}" == "complete" ]]; then
    # The next switch (the drill's roll-forward, a later deploy) needs this deployment finished.
    DEPLOYMENT_ID="$deployment" WAIT_TIMEOUT="${COMPLETE_TIMEOUT:-2280}" "$here/codedeploy-wait.sh" complete
  fi
else
  aws ecs update-service --cluster "$CLUSTER" --service "$SERVICE" --task-definition "$target" >/dev/null
  aws ecs wait services-stable --cluster "$CLUSTER" --services "$SERVICE"
fi

running=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].taskDefinition' --output text)
if [[ "$controller" != "CODE_DEPLOY" && "$running" != "$target" ]]; then
  echo "::error::service runs $running, expected $target"
  exit 1
fi
echo "Service on ${target##*/}"
