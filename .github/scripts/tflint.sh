#!/usr/bin/env bash
# Runs tflint over every Terraform directory with the project's rules (terraform/.tflint.hcl, which
# also pins the AWS ruleset plugin); `tflint --init` downloads the plugins it names.
set -euo pipefail

config="$PWD/terraform/.tflint.hcl"
[[ -f "$config" ]] || { echo "::error::missing $config: the tflint rules and plugin pins live there"; exit 1; }
tflint --init --config "$config"
tflint --recursive --chdir terraform --config "$config" --format compact
