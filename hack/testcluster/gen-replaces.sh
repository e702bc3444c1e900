#!/usr/bin/env bash
# Point every k8s.io/* staging module that k8s.io/kubernetes requires at v0.0.0 to its published
# v0.X.Y, reading the list from that Kubernetes version's own go.mod (never typed by hand).
#
#   hack/testcluster/gen-replaces.sh v1.34.3          # print the replace block
#   hack/testcluster/gen-replaces.sh v1.34.3 --apply  # also write it into go.mod here
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${1:?usage: gen-replaces.sh vMAJOR.MINOR.PATCH [--apply]}"
[[ "$version" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "not a v1.X.Y version: $version" >&2; exit 2; }
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

gomod="$(cd "$here" && go mod download -json "k8s.io/kubernetes@$version" | jq -r .GoMod)"
# Kubernetes' own go.mod replaces each staging module with ./staging/src/<path>; those are the
# modules it requires at v0.0.0 and publishes separately as v0.X.Y.
mapfile -t modules < <(go mod edit -json "$gomod" |
  jq -r '.Replace[] | select(.New.Path | startswith("./staging/src/")) | .Old.Path' | sort)
[[ ${#modules[@]} -gt 0 ]] || { echo "no staging replaces found in $gomod" >&2; exit 1; }

echo "replace ("
for m in "${modules[@]}"; do echo "	$m => $m $staging"; done
echo ")"

if [[ "${2:-}" == "--apply" ]]; then
  edits=()
  for m in "${modules[@]}"; do edits+=("-replace=$m=$m@$staging"); done
  (cd "$here" && go mod edit "${edits[@]}")
fi
