//go:build tools

// Package tools pins the Helm CLI that tests/helm/build.sh builds.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
