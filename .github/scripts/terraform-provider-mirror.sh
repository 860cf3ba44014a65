#!/usr/bin/env bash
# Fills a filesystem mirror with the AWS provider for tests/infra/test_terraform.py, which installs
# providers only from a mirror (TF_PLUGIN_MIRROR) and skips its init/validate/test checks without one.
# Locally that mirror is /opt/tf-plugins; on a runner it is downloaded here, once per job.
set -euo pipefail

mirror="${RUNNER_TEMP:?}/tf-plugins"
terraform -chdir=terraform/modules/service providers mirror -platform=linux_amd64 "$mirror"
echo "TF_PLUGIN_MIRROR=$mirror" >>"$GITHUB_ENV"
