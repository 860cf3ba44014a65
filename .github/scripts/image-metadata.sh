#!/usr/bin/env bash
# Writes the image build metadata to $GITHUB_OUTPUT: the project version, and the commit time as
# SOURCE_DATE_EPOCH and as the OCI `created` label. Using the commit time (not the wall clock) makes
# the build and publish jobs produce the same image from the same cache.
set -euo pipefail

epoch=$(git log -1 --pretty=%ct)
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
{
  echo "source-date-epoch=$epoch"
  echo "version=$version"
  echo "created=$created"
} >>"$GITHUB_OUTPUT"
echo "version=$version created=$created"
