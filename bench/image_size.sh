#!/usr/bin/env bash
# Estimates the runtime image size without Docker: builds the runtime virtualenv exactly as the
# Dockerfile's builder stage does (locked, no dev dependencies, non-editable, bytecode compiled,
# extensions stripped of debug info) into a temporary directory, measures it and adds the base image.
# Usage: bench/image_size.sh   (needs uv 0.13.0 as .tools/uv/bin/uv or on PATH, and binutils' strip)
set -euo pipefail
cd "$(dirname "$0")/.."

uv=$([[ -x .tools/uv/bin/uv ]] && echo .tools/uv/bin/uv || echo uv)
# python:3.12-slim-bookworm uncompressed, as `docker image ls` shows it; override when you measure it.
base_mb=${BASE_IMAGE_MB:-120}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mb() { du -sk "$@" | awk '{kb += $1} END {printf "%6.1f", kb / 1024}'; }

# The builder's steps with the builder's settings: lock files only, then the project, then strip.
cp pyproject.toml uv.lock .python-version "$work/"
export PYTHONDONTWRITEBYTECODE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0 UV_PROJECT_ENVIRONMENT="$work/venv"
"$uv" sync --quiet --project "$work" --frozen --no-dev --no-install-project
cp -r README.md src "$work/"
"$uv" sync --quiet --project "$work" --frozen --no-dev --no-editable
echo "runtime virtualenv before strip: $(mb "$work/venv") MB"
find "$work/venv" -name '*.so' -exec strip --strip-debug {} +

site=$(echo "$work"/venv/lib/python3.*/site-packages)
venv_mb=$(mb "$work/venv")
echo "runtime virtualenv:              $venv_mb MB"
echo "  of which bytecode:             $(find "$work/venv" -name '*.pyc' -print0 | du -ck --files0-from=- |
  awk 'END {printf "%6.1f", $1 / 1024}') MB"
echo "largest packages:"
# awk, not head: head exits early, sort then dies of SIGPIPE, and pipefail fails the script.
du -sk "$site"/* | sort -rn | awk 'NR <= 6 {n = split($2, p, "/"); printf "  %-29s %6.1f MB\n", p[n], $1 / 1024}'
echo "base image (assumed):            $(awk -v b="$base_mb" 'BEGIN {printf "%6.1f", b}') MB"
echo "estimated image:                 $(awk -v v="$venv_mb" -v b="$base_mb" 'BEGIN {printf "%6.1f", v + b}') MB"
