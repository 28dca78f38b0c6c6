#!/usr/bin/env bash
# The blob-storage servers the conformance suite of internal/blob runs
# against: Azurite (Azure Blob Storage's emulator) with npm, and versitygw
# (an S3 gateway; its posix backend keeps objects in a directory) with
# `go install`. Both go under /usr/local/bin; the tests start them on ports
# of their own (internal/blob/blobtest). Idempotent: a tool already at its
# version is left alone.
#
# Cold cost on a fresh machine: versitygw downloads ~340 MB of modules and
# compiles for a few minutes of CPU; Azurite is ~450 npm packages (360 MB).
set -euo pipefail

AZURITE_VERSION=3.37.0
VERSITYGW_VERSION=v1.8.0

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

gobin=/usr/local/bin
if command -v go >/dev/null; then
	have=""
	if [ -x "$gobin/versitygw" ]; then
		have=$(go version -m "$gobin/versitygw" 2>/dev/null | awk '$1 == "mod" {print $3; exit}')
	fi
	if [ "$have" != "$VERSITYGW_VERSION" ]; then
		echo "blob deps: go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
		sudo_ env "PATH=$PATH" GOBIN="$gobin" GOFLAGS=-trimpath CGO_ENABLED=0 \
			go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
	fi
else
	echo "blob deps: go not found; versitygw not installed" >&2
fi

if command -v npm >/dev/null; then
	have=$(/usr/local/bin/azurite-blob --version 2>/dev/null || true)
	if [ "$have" != "$AZURITE_VERSION" ]; then
		echo "blob deps: npm install -g azurite@$AZURITE_VERSION" >&2
		sudo_ npm install -g --prefix /usr/local --no-fund --no-audit --loglevel=error "azurite@$AZURITE_VERSION"
	fi
else
	echo "blob deps: npm not found; azurite not installed" >&2
fi
