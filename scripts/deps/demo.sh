#!/usr/bin/env bash
# `make demo`: staticcheck and gosec, the Go checks apt does not package.
set -euo pipefail
exec "$(dirname "$0")/validation.sh" go
