#!/usr/bin/env bash
# Regenerates src/strategy/hash/go_layout.rs, the Go JSON layout serin's pod-template and step hashes follow,
# from the k8s.io/api and Argo Rollouts types this module pins.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
api=$(awk '$1=="k8s.io/api"{print $2; exit}' "$here/go.mod")
argo=$(awk '$1=="github.com/argoproj/argo-rollouts"{print $2; exit}' "$here/go.mod")
cd "$here"
PODHASH_API_VERSION="$api and github.com/argoproj/argo-rollouts $argo" go run . fields > "$here/../../src/strategy/hash/go_layout.rs"
