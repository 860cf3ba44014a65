#!/usr/bin/env bash
# Installs the check tools that come from apt (shellcheck, promtool) on a GitHub-hosted runner.
# `make tools` installs only the pinned Python tools and names the system packages it leaves, and
# `scripts/install-tools.sh --system` needs root; runners are not root, so apt runs here with sudo.
set -euo pipefail

missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v promtool >/dev/null || missing+=(prometheus)
if ((${#missing[@]})); then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's prometheus package starts a daemon on :9090; the tests run their own instance.
sudo systemctl disable --now prometheus 2>/dev/null || true
shellcheck --version | head -2
promtool --version | head -1
