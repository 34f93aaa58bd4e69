#!/usr/bin/env bash
# Builds the Helm CLI pinned in go.mod (serin's chart tests run `helm lint` and `helm template` with it) into a
# cache directory outside the repository keyed by what goes into the build, and prints that bin directory. A
# second run on the same machine builds nothing.
#
#   tests/helm/build.sh            # build if needed, print the bin directory
#   tests/helm/build.sh --bin-dir  # print where the bin directory is, building nothing
#
# The cache is ${SERIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/serin}, shared with tests/controlplane.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SERIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/serin}
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"

helm=$(awk '$1=="helm.sh/helm/v3"{print $2} $1=="require" && $2=="helm.sh/helm/v3"{print $3}' "$here/go.mod")
key=$( (go version; cd "$here" && cat go.mod go.sum build.sh tools.go) | sha256sum | cut -c1-16)
bin="$cache/helm/helm-$helm-$key/bin"

if [ "${1:-}" = "--bin-dir" ]; then
  echo "$bin"
  exit 0
fi
if [ -x "$bin/helm" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache/helm"
exec 9>"$cache/helm/.lock"
flock 9
if [ ! -x "$bin/helm" ]; then
  start=$(date +%s)
  echo "building Helm $helm into $bin" >&2
  cd "$here"
  go mod download
  tmp="$bin.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  go build -trimpath -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm" -o "$tmp/helm" \
    helm.sh/helm/v3/cmd/helm
  rm -rf "$bin"
  mv "$tmp" "$bin"
  go clean -cache
  echo "built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
