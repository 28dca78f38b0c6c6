#!/usr/bin/env bash
# Tools the deploy tests (deploy/*_test.go) run that apt does not package:
#   helm         renders and lints the chart (`helm install --dry-run=client`,
#                `helm lint --strict`), built with `go install`;
#   kubeconform  validates what helm renders against the Kubernetes JSON
#                schemas, built with `go install`;
#   the schemas  kubeconform normally downloads them; here they are generated
#                offline by deploy/kubeschema from the OpenAPI document of
#                Kubernetes v1.27.0 (the oldest release the chart supports,
#                its kubeVersion) that ships in the k8s.io/kube-openapi module.
# Binaries go to /usr/local/bin, schemas to
# /usr/local/share/qlp/kubernetes-json-schema. Idempotent: a tool already at
# its version, and schemas already made from the same source by the same
# generator, are left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM_VERSION=v4.3.2
KUBECONFORM_VERSION=v0.8.0
# The kube-openapi version kubeconform $KUBECONFORM_VERSION builds with, so
# its module is already downloaded; pkg/schemaconv/testdata/swagger.json in
# it is the API server's OpenAPI v2 document of Kubernetes v1.27.0.
KUBE_OPENAPI_VERSION=v0.0.0-20260603220949-865597e52e25
SCHEMA_ROOT=/usr/local/share/qlp/kubernetes-json-schema

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v go >/dev/null; then
	echo "deploy deps: go not found; helm, kubeconform and the Kubernetes schemas not installed" >&2
	exit 1
fi

gobin=/usr/local/bin
goinstall() { # name module version
	local name=$1 mod=$2 ver=$3 have="" start
	if [ -x "$gobin/$name" ]; then
		have=$(go version -m "$gobin/$name" 2>/dev/null | awk '$1 == "mod" {print $3; exit}')
	fi
	if [ "$have" = "$ver" ]; then
		return
	fi
	echo "deploy deps: go install $mod@$ver" >&2
	start=$(date +%s)
	sudo_ env "PATH=$PATH" GOBIN="$gobin" GOFLAGS=-trimpath CGO_ENABLED=0 go install "$mod@$ver"
	echo "deploy deps: $name $ver installed in $(($(date +%s) - start)) s" >&2
}

goinstall helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION"
goinstall kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"

# The schemas: remade when their source or the generator changes.
stamp="k8s.io/kube-openapi@$KUBE_OPENAPI_VERSION $(sha256sum deploy/kubeschema/main.go | cut -d' ' -f1)"
if [ "$(cat "$SCHEMA_ROOT/.source" 2>/dev/null || true)" != "$stamp" ]; then
	start=$(date +%s)
	dir=$(go mod download -json "k8s.io/kube-openapi@$KUBE_OPENAPI_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	swagger="$dir/pkg/schemaconv/testdata/swagger.json"
	if [ ! -f "$swagger" ]; then
		echo "deploy deps: $swagger not found in k8s.io/kube-openapi@$KUBE_OPENAPI_VERSION" >&2
		exit 1
	fi
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	go run -trimpath ./deploy/kubeschema -in "$swagger" -out "$work"
	echo "$stamp" >"$work/.source"
	sudo_ rm -rf "$SCHEMA_ROOT"
	sudo_ mkdir -p "$(dirname "$SCHEMA_ROOT")"
	sudo_ cp -r "$work" "$SCHEMA_ROOT"
	sudo_ chmod -R a+rX "$SCHEMA_ROOT"
	echo "deploy deps: Kubernetes JSON schemas written to $SCHEMA_ROOT in $(($(date +%s) - start)) s" >&2
fi
