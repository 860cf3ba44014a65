#!/usr/bin/env bash
# Pushes the build job's tested image, never a rebuild: loads the saved tar file, refuses it unless
# its image ID is the one the build job recorded, tags it <registry>/<repository>:<commit> and pushes
# it. Writes the pushed manifest digest to $GITHUB_OUTPUT as `digest` (deploys go by digest).
# Usage: image-push.sh <tar file> <image as built> <target repository:tag>. Needs EXPECTED_IMAGE_ID.
set -euo pipefail

file="${1:?usage: image-push.sh <tar file> <image as built> <repository:tag>}"
built="${2:?usage: image-push.sh <tar file> <image as built> <repository:tag>}"
target="${3:?usage: image-push.sh <tar file> <image as built> <repository:tag>}"

docker image load --input "$file"
id=$(docker image inspect --format '{{.Id}}' "$built")
if [[ "$id" != "${EXPECTED_IMAGE_ID:?the build job records the image ID it tested}" ]]; then
  echo "::error::$file holds $id, but the build job tested $EXPECTED_IMAGE_ID: refusing to push"
  exit 1
fi
docker image tag "$built" "$target"
docker image push "$target"
repository=${target%:*}
digest=$(docker image inspect --format '{{join .RepoDigests "\n"}}' "$target" | sed -n "s|^$repository@||p" | head -1)
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "::error::no pushed digest for $repository"; exit 1; }
echo "digest=$digest" >>"$GITHUB_OUTPUT"
echo "Pushed $id as $repository@$digest"
