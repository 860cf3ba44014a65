#!/usr/bin/env bash
# Saves the image the build job built, scanned and smoke-tested to a tar file for the publish job,
# and writes its image ID (the digest of its configuration and layers) to $GITHUB_OUTPUT as
# `image-id`: the publish job pushes that file and checks the ID, so what ships is what was tested.
# Usage: image-save.sh <image> <tar file>
set -euo pipefail

image="${1:?usage: image-save.sh <image> <tar file>}"
file="${2:?usage: image-save.sh <image> <tar file>}"
id=$(docker image inspect --format '{{.Id}}' "$image")
docker image save --output "$file" "$image"
echo "image-id=$id" >>"$GITHUB_OUTPUT"
echo "Saved $image ($id) to $file"
