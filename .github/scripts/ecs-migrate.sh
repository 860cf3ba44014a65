#!/usr/bin/env bash
# Runs the migrations as a one-off ECS task of the new task definition, before any new task serves
# traffic: same image, same subnets and security groups as the service, command `python -m app migrate`.
# Waits for the task to stop and fails unless the app container exited 0.
# Needs CLUSTER, SERVICE, CONTAINER, TASK_DEFINITION; MIGRATION_TIMEOUT seconds (default 900).
set -euo pipefail

timeout=${MIGRATION_TIMEOUT:-900}

network=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].networkConfiguration' --output json)
overrides=$(jq -cn --arg name "$CONTAINER" \
  '{containerOverrides: [{name: $name, command: ["python", "-m", "app", "migrate"]}]}')

task=$(aws ecs run-task --cluster "$CLUSTER" --task-definition "$TASK_DEFINITION" \
  --launch-type FARGATE --network-configuration "$network" --overrides "$overrides" \
  --started-by "migrate-${GITHUB_RUN_ID:-manual}" --query 'tasks[0].taskArn' --output text)
if [[ -z "$task" || "$task" == "None" ]]; then
  echo "::error::run-task started nothing (capacity, network or IAM): see the ECS cluster events"
  exit 1
fi
echo "Migration task: $task"

# `aws ecs wait tasks-stopped` gives up after 10 minutes; a long migration may need more.
deadline=$((SECONDS + timeout))
while :; do
  status=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --query 'tasks[0].lastStatus' --output text)
  [[ "$status" == "STOPPED" ]] && break
  if ((SECONDS >= deadline)); then
    echo "::error::migration still $status after ${timeout}s; stopping it"
    aws ecs stop-task --cluster "$CLUSTER" --task "$task" --reason "migration timeout" >/dev/null
    exit 1
  fi
  sleep 10
done

result=$(aws ecs describe-tasks --cluster "$CLUSTER" --tasks "$task" --output json)
exit_code=$(jq -r --arg name "$CONTAINER" '.tasks[0].containers[] | select(.name == $name) | .exitCode // "none"' <<<"$result")
reason=$(jq -r '.tasks[0].stoppedReason // ""' <<<"$result")
if [[ "$exit_code" != "0" ]]; then
  echo "::error::migration failed: exit code $exit_code ($reason). The service was not changed; see the task's logs."
  exit 1
fi
echo "Migration succeeded"
