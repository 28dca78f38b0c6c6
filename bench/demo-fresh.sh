#!/usr/bin/env bash
# `make demo` as a fresh machine sees it, phase by phase: empty Go module
# and build caches, a fresh seed directory, a fresh clone of this checkout,
# staticcheck and gosec compiled from nothing (into the scratch directory,
# not /usr/local), and apt's part measured by reinstalling bubblewrap after
# an update (root or sudo). Run it alone on the machine: it is all compiling.
#
#   bench/demo-fresh.sh            # prints each phase's seconds and the total
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d "${TMPDIR:-/var/tmp}/qlp-demo-fresh.XXXX")
# The sandbox user must reach the seed built inside it.
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT
export GOMODCACHE=$root/gomod GOCACHE=$root/gocache GOPATH=$root/gopath
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
t0=$SECONDS
s=$SECONDS
sudo_ apt-get update -qq >/dev/null
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall --no-install-recommends bubblewrap >/dev/null
echo "phase apt (update + bubblewrap): $((SECONDS - s)) s"
versions=$(grep -E '^(STATICCHECK|GOSEC)_VERSION=' "$repo/scripts/deps/validation.sh")
eval "$versions"
s=$SECONDS
# As scripts/deps/validation.sh does: both at once, qlp's build flags.
GOBIN=$root/bin GOFLAGS=-trimpath CGO_ENABLED=0 go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" 2>/dev/null &
sc=$!
GOBIN=$root/bin GOFLAGS=-trimpath CGO_ENABLED=0 go install "github.com/securego/gosec/v2/cmd/gosec@$GOSEC_VERSION" 2>/dev/null &
gs=$!
wait "$sc"
wait "$gs"
echo "phase go install staticcheck + gosec: $((SECONDS - s)) s"
s=$SECONDS
git clone -q "$repo" "$root/qlp"
echo "phase clone: $((SECONDS - s)) s"
cd "$root/qlp"
export QLP_SANDBOX_GO_CACHE_SEED_DIR=$root/seed
scripts/demo.sh >"$root/demo.out" 2>"$root/demo.err" || { tail -20 "$root/demo.err" >&2; exit 1; }
grep '^demo:.* in ' "$root/demo.err" | sed 's/^demo: /phase /'
grep 'validated' "$root/demo.err" | tail -1
echo "total: $((SECONDS - t0)) s"
