#!/usr/bin/env bash
# Reads a saved plan (terraform/environments/<env>/tfplan) and writes what may leave the runner:
#   changes.json  the planned changes, resource address and actions only (no values): the record of
#                 what the reviewers saw, which the apply job holds its own plan against;
#   secrets=true|false to $GITHUB_OUTPUT: whether the plan file carries a sensitive value (prior state,
#                 planned values, changes, outputs, variables). A saved plan holds the state in clear
#                 text, so one that carries a secret is never uploaded; the lines name where, never what.
# Usage: terraform-plan-check.sh <dir with tfplan>
set -euo pipefail

dir="${1:?usage: terraform-plan-check.sh <dir>}"
plan=$(terraform -chdir="$dir" show -json tfplan)

jq '[.resource_changes[]? | select(.change.actions != ["no-op"]) | {address, actions: .change.actions}]' \
  <<<"$plan" >"$dir/changes.json"

# Every path a sensitivity map marks true whose value is set: "<address> <attribute path>".
found=$(jq -r '
  def marked($values; $sensitive; $where):
    $sensitive | paths(. == true) as $p
    | ($values | try getpath($p) catch null) as $v
    | select($v != null and $v != "" and $v != [] and $v != {})
    | "\($where) \($p | map(tostring) | join("."))";
  def resources: .. | objects | select(has("resources")) | .resources[]?;
  (.prior_state.values.root_module // {} | resources | marked(.values; .sensitive_values; .address)),
  (.planned_values.root_module // {} | resources | marked(.values; .sensitive_values; .address)),
  (.resource_changes[]? | marked(.change.before; .change.before_sensitive; .address),
                          marked(.change.after; .change.after_sensitive; .address)),
  (.output_changes // {} | to_entries[] | marked(.value.after; .value.after_sensitive; "output.\(.key)")),
  (.configuration.root_module.variables // {} | to_entries[] | select(.value.sensitive == true) | .key) as $name
    | (.variables[$name].value // null) | select(. != null and . != "") | "var.\($name) (sensitive input)"
  ' <<<"$plan" | sort -u)

if [[ -n "$found" ]]; then
  echo "::warning::the saved plan carries sensitive values, so it stays on this runner:"
  while IFS= read -r where; do echo "  $where"; done <<<"$found"
  echo "secrets=true" >>"$GITHUB_OUTPUT"
else
  echo "secrets=false" >>"$GITHUB_OUTPUT"
fi
echo "$(jq length "$dir/changes.json") resource changes in $dir/changes.json"
