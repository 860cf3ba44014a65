#!/usr/bin/env bash
# Records the task definition the service runs now (the rollback target) as `arn` in $GITHUB_OUTPUT,
# and the newest ACTIVE revision of its family as `base`: the one to render the new image into, so
# settings Terraform registered since the last deploy (flags, sizes, secrets) ship with this one,
# and stops the deploy when DEPLOY_STRATEGY does not match the service's deployment controller
# (rolling needs ECS, blue_green and canary need CODE_DEPLOY: Terraform's deployment_strategy decides).
# Needs CLUSTER, SERVICE, STRATEGY.
set -euo pipefail

info=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].[taskDefinition, deploymentController.type]' --output text)
read -r arn controller <<<"$info"
[[ "$controller" == "None" ]] && controller=ECS # services created without a controller use ECS
expected=CODE_DEPLOY
[[ "$STRATEGY" == "rolling" ]] && expected=ECS
if [[ "$controller" != "$expected" ]]; then
  echo "::error::DEPLOY_STRATEGY=$STRATEGY needs the $expected controller; $CLUSTER/$SERVICE uses $controller." \
    "Make the variable match Terraform's deployment_strategy."
  exit 1
fi
family=${arn##*/}
family=${family%:*}
base=$(aws ecs describe-task-definition --task-definition "$family" \
  --query 'taskDefinition.taskDefinitionArn' --output text)
echo "Running: $arn ($controller); newest revision of $family: $base"
echo "arn=$arn" >>"$GITHUB_OUTPUT"
echo "base=$base" >>"$GITHUB_OUTPUT"
