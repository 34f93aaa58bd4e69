#!/usr/bin/env bash
# Builds the real control plane for serin's tests (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, etcd, KWOK, the serin-controlplane supervisor), the clientgo typed client and the protoschema table
# printer from the Go modules pinned in go.mod, and the podhash reference (Argo Rollouts' own hashing, from
# tests/podhash), into a cache directory outside the repository keyed by what goes into the build, and prints
# that bin directory. Go's module cache lives beside it (the build cache is emptied after a build), so a second
# run on the same machine builds nothing.
#
#   tests/controlplane/build.sh            # build if needed, print the bin directory
#   tests/controlplane/build.sh --bin-dir  # print where the bin directory is, building nothing
#
# The cache is ${SERIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/serin}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SERIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/serin}
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"

k8s=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$here/go.mod")
podhash="$here/../podhash"
key=$( (go version; cd "$here" && cat go.mod go.sum build.sh $(find cmd -type f | sort) \
  && cd "$podhash" && cat go.mod go.sum ./*.go) | sha256sum | cut -c1-16)
bin="$cache/controlplane/k8s-$k8s-$key/bin"

if [ "${1:-}" = "--bin-dir" ]; then
  echo "$bin"
  exit 0
fi
if [ -x "$bin/serin-controlplane" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache/controlplane"
exec 9>"$cache/controlplane/.lock"
flock 9
if [ ! -x "$bin/serin-controlplane" ]; then
  start=$(date +%s)
  echo "building the real control plane (Kubernetes $k8s) into $bin" >&2
  cd "$here"
  ./update.sh --check
  go mod download
  version_flags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_flags+=" -X $p.gitVersion=$k8s -X $p.gitMajor=$(echo "${k8s#v}" | cut -d. -f1)"
    version_flags+=" -X $p.gitMinor=$(echo "$k8s" | cut -d. -f2) -X $p.gitTreeState=clean"
  done
  tmp="$bin.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  go build -trimpath -ldflags="-s -w$version_flags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl sigs.k8s.io/kwok/cmd/kwok \
    ./cmd/etcd ./cmd/serin-controlplane ./cmd/clientgo ./cmd/protoschema
  (cd "$podhash" && go mod download && go build -trimpath -ldflags="-s -w" -o "$tmp/podhash" .)
  rm -rf "$bin"
  mv "$tmp" "$bin"
  # The binaries are what is kept: Go's build cache (gigabytes) is only worth keeping for a rebuild, and a
  # fresh machine's disk is better spent on the tests' own builds.
  go clean -cache
  echo "built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
