#!/usr/bin/env bash
# Deploys one overlay of kubernetes/ with the image the pipeline published, in the order the ECS deploy
# keeps (.github/workflows/deploy.yml): migrate, roll out, wait, and roll back when the rollout fails.
# Usage: scripts/k8s-deploy.sh [--namespace NS] [--context CTX] <overlay> <name@sha256:digest>
#   overlay   a directory of kubernetes/overlays/ (dev, staging, prod)
#   image     the published image by digest; the overlays' all-zero placeholder is refused
# 1. Renders the overlay with that image: a generated kustomization over a copy of kubernetes/ sets it
#    (what `kustomize edit set image` would write), so kubectl's built-in kustomize is all it needs.
# 2. Applies everything but the migration Job and the pods' owners (Deployment, Rollout) first: a missing
#    CRD or a refused object fails the deploy before the migration runs or a pod changes.
# 3. Deletes the previous migration Job (a Job's pod template is immutable), applies the new one and
#    waits for it. A failed or slow migration prints its log and stops here: the pods are untouched.
# 4. Applies the Deployment (and the Argo Rollout, with the canary component) and waits for it:
#    `kubectl rollout status`, or the Rollout's phase (no Argo Rollouts plugin needed).
# 5. On failure or timeout: aborts the Rollout (traffic back to the stable pods at once), rolls the
#    Deployment back to the revision it ran before, waits for that, and exits 1.
# Environment: KUBE_NAMESPACE and KUBE_CONTEXT (the flags win; default: the overlay's namespace and
# kubectl's current context), KUBECONFIG as kubectl reads it; MIGRATION_TIMEOUT seconds (default 900,
# the Job's activeDeadlineSeconds), ROLLOUT_TIMEOUT seconds (1800, per wait), POLL_SECONDS (10).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
namespace=${KUBE_NAMESPACE:-}
context=${KUBE_CONTEXT:-}
migration_timeout=${MIGRATION_TIMEOUT:-900}
rollout_timeout=${ROLLOUT_TIMEOUT:-1800}
poll=${POLL_SECONDS:-10}
zero_digest="sha256:$(printf '0%.0s' {1..64})"

usage() {
  echo "usage: $0 [--namespace NS] [--context CTX] <overlay: dev|staging|prod> <name@sha256:<64 hex>>" >&2
  exit 2
}
refuse() {
  echo "::error::$1"
  exit 2
}

parse_args() {
  local positional=()
  while (($#)); do
    case "$1" in
      --namespace) namespace=${2:?--namespace needs a value} && shift ;;
      --context) context=${2:?--context needs a value} && shift ;;
      -h | --help) usage ;;
      -*) usage ;;
      *) positional+=("$1") ;;
    esac
    shift
  done
  ((${#positional[@]} == 2)) || usage
  overlay=${positional[0]} image=${positional[1]}
}

check_inputs() {
  overlay_dir="$root/kubernetes/overlays/$overlay"
  [[ "$overlay" =~ ^[a-z0-9-]+$ && -f "$overlay_dir/kustomization.yaml" ]] ||
    refuse "no overlay '$overlay' in kubernetes/overlays/"
  [[ "$image" =~ ^[a-z0-9]+(([._/:]|__|-+)[a-z0-9]+)*@sha256:[0-9a-f]{64}$ ]] ||
    refuse "image '$image' is not <name>@sha256:<64 hex>: deploys go by digest, never by tag"
  [[ "${image#*@}" != "$zero_digest" ]] ||
    refuse "image '$image' carries the overlays' placeholder digest: pass the digest the pipeline published"
  for limit in "$migration_timeout" "$rollout_timeout"; do
    # kubectl reads a zero --timeout as "wait forever".
    [[ "$limit" =~ ^[1-9][0-9]*$ ]] ||
      refuse "MIGRATION_TIMEOUT and ROLLOUT_TIMEOUT are seconds above zero"
  done
  [[ "$poll" =~ ^[0-9]+$ ]] || refuse "POLL_SECONDS '$poll' is not a number of seconds"
  # The name the overlay gives the image (its `images:` entry), and its namespace unless one is given.
  image_name=$(awk '/^images:/ { found = 1; next } found && /^  - name: / { print $3; exit }' \
    "$overlay_dir/kustomization.yaml")
  [[ -n "$image_name" ]] || refuse "overlays/$overlay/kustomization.yaml has no images: entry to set"
  if [[ -z "$namespace" ]]; then
    namespace=$(awk '/^namespace: / { print $2; exit }' "$overlay_dir/kustomization.yaml")
  fi
  [[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] ||
    refuse "namespace '$namespace' is not a DNS label (--namespace, KUBE_NAMESPACE or the overlay's)"
}

kube() {
  if [[ -n "$context" ]]; then
    kubectl --context "$context" --namespace "$namespace" "$@"
  else
    kubectl --namespace "$namespace" "$@"
  fi
}

render() {
  cp -R "$root/kubernetes" "$work/"
  mkdir "$work/kubernetes/deploy"
  cat >"$work/kubernetes/deploy/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$overlay
namespace: $namespace
images:
  - name: $image_name
    newName: ${image%@*}
    digest: ${image#*@}
EOF
  kubectl kustomize "$work/kubernetes/deploy" >"$work/rendered.yaml"
}

# Splits the rendered objects into supporting.yaml, migration.yaml (the Job) and workloads.yaml
# (Deployment, Rollout), and prints "<kind> <name>" for each of the last three.
split_render() {
  : >"$work/supporting.yaml" && : >"$work/migration.yaml" && : >"$work/workloads.yaml"
  awk -v dir="$work" '
    function flush(file) {
      if (doc == "") return
      file = dir "/supporting.yaml"
      if (kind == "Job") file = dir "/migration.yaml"
      if (kind == "Deployment" || kind == "Rollout") file = dir "/workloads.yaml"
      printf "---\n%s", doc >>file
      if (file != dir "/supporting.yaml") print kind, name
      doc = kind = name = ""
    }
    $0 == "---" { flush(); next }
    { doc = doc $0 "\n" }
    /^[^ #]/ { in_metadata = ($0 == "metadata:") }
    /^kind: / { kind = $2 }
    in_metadata && /^  name: / && name == "" { name = $2 }
    END { flush() }
  ' "$work/rendered.yaml"
}

read_workloads() {
  local kind name jobs=0 deployments=0 rollouts=0
  job="" deployment="" rollout=""
  while read -r kind name; do
    case "$kind" in
      Job) job=$name && jobs=$((jobs + 1)) ;;
      Deployment) deployment=$name && deployments=$((deployments + 1)) ;;
      Rollout) rollout=$name && rollouts=$((rollouts + 1)) ;;
    esac
  done <"$work/workloads.txt"
  if ((jobs != 1 || deployments != 1 || rollouts > 1)); then
    echo "::error::overlays/$overlay renders $jobs Job(s), $deployments Deployment(s), $rollouts Rollout(s):" \
      "this script deploys one migration Job, one Deployment and at most one Rollout"
    exit 1
  fi
}

revision() {
  kube get deployment "$deployment" --ignore-not-found \
    -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}'
}

# `kubectl wait` waits for one condition only: a failed Job would hold it until the timeout.
migrate() {
  echo "Deleting the previous migration Job $job, and its pod, before a new one starts"
  kube delete job "$job" --ignore-not-found --cascade=foreground --wait --timeout=120s
  kube apply -f "$work/migration.yaml"
  local deadline=$((SECONDS + migration_timeout)) conditions
  while :; do
    conditions=$(kube get job "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
    case " $conditions " in
      *" Complete "*)
        echo "Migration succeeded"
        return 0
        ;;
      *" Failed "*)
        migration_failed "$(kube get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')"
        ;;
    esac
    ((SECONDS < deadline)) || migration_failed "still running after ${migration_timeout}s (its activeDeadlineSeconds stops it)"
    sleep "$poll"
  done
}

migration_failed() {
  echo "--- log of job/$job"
  kube logs "job/$job" --all-containers --tail=200 || true
  kube get pods --selector "batch.kubernetes.io/job-name=$job" -o wide || true
  echo "::error::migration Job $job failed: $1. The Deployment was not changed (runbooks/kubernetes-deploy.md)."
  exit 1
}

# The Rollout's phase counts only once Argo Rollouts has seen this apply: its own spec (generation) and
# the Deployment it takes its pod template from (workloadObservedGeneration).
wait_for_rollout() {
  local deadline=$((SECONDS + rollout_timeout)) workload status last=""
  local generation observed seen phase stable current message
  workload=$(kube get deployment "$deployment" -o jsonpath='{.metadata.generation}') || return 1
  while :; do
    status=$(kube get rollout "$rollout" -o jsonpath='{.metadata.generation}|{.status.observedGeneration}|{.status.workloadObservedGeneration}|{.status.phase}|{.status.stableRS}|{.status.currentPodHash}|{.status.message}') || return 1
    IFS='|' read -r generation observed seen phase stable current message <<<"$status"
    if [[ "$observed" == "$generation" ]] && ((${seen:-0} >= workload)); then
      if [[ "$phase" == "Healthy" && -n "$stable" && "$stable" == "$current" ]]; then
        echo "Rollout $rollout is Healthy: $current is the stable ReplicaSet"
        return 0
      fi
      if [[ "$phase" == "Degraded" ]]; then
        echo "::error::Rollout $rollout is Degraded: $message"
        return 1
      fi
    fi
    [[ "$phase $message" != "$last" ]] && echo "Rollout $rollout: ${phase:-not observed yet} $message"
    last="$phase $message"
    if ((SECONDS >= deadline)); then
      echo "::error::Rollout $rollout still ${phase:-not observed} after ${rollout_timeout}s"
      return 1
    fi
    sleep "$poll"
  done
}

# Called in a condition: every step's status is returned, errexit does not apply.
wait_for_release() {
  if [[ -n "$rollout" ]]; then
    wait_for_rollout
  else
    kube rollout status "deployment/$deployment" --timeout="${rollout_timeout}s"
  fi
}

roll_back() {
  echo "::warning::$1: rolling $deployment in $namespace back"
  if [[ -n "$rollout" ]]; then
    # What `kubectl argo rollouts abort` sends: the status subresource's abort flag.
    kube patch rollout "$rollout" --subresource=status --type=merge -p '{"status":{"abort":true}}' ||
      echo "::warning::could not abort Rollout $rollout"
  fi
  if [[ -z "$previous_revision" ]]; then
    echo "::error::Deployment $deployment had no earlier revision to roll back to: the failed pods are" \
      "left as they are for you to read (runbooks/kubernetes-deploy.md)"
    exit 1
  fi
  if [[ "$(revision)" == "$previous_revision" ]]; then
    echo "::error::Deployment $deployment still has revision $previous_revision (this deploy did not change" \
      "its pod template), so there is nothing to undo: the release it runs is failing (runbooks/kubernetes-deploy.md)"
    exit 1
  fi
  # The template goes back to the revision it ran before; with a Rollout that also ends the abort.
  if ! kube rollout undo "deployment/$deployment" --to-revision="$previous_revision"; then
    echo "::error::kubectl rollout undo failed: roll back by hand (runbooks/kubernetes-deploy.md)"
    exit 1
  fi
  if wait_for_release; then
    echo "::error::the deploy failed; $deployment is back on revision $previous_revision's pod template"
  else
    echo "::error::the rollback to revision $previous_revision did not become healthy either: follow" \
      "runbooks/kubernetes-deploy.md"
  fi
  exit 1
}

main() {
  parse_args "$@"
  check_inputs
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  render
  split_render >"$work/workloads.txt"
  read_workloads
  echo "Deploying overlays/$overlay to namespace $namespace: $image"
  previous_revision=$(revision)
  kube apply -f "$work/supporting.yaml"
  migrate
  if ! kube apply -f "$work/workloads.yaml"; then
    roll_back "applying $deployment${rollout:+ and Rollout $rollout} failed"
  fi
  if ! wait_for_release; then
    roll_back "the rollout failed"
  fi
  echo "Deployed $image to $namespace"
}

main "$@"
