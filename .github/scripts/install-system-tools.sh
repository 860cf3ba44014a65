#!/usr/bin/env bash
# Installs the check tools that come from apt (shellcheck, promtool) on a GitHub-hosted runner.
# `make tools` would apt-get them itself, but only as root; runners are not root, so do it with sudo
# first and `make tools` then finds them present.
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
