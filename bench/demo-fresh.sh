#!/usr/bin/env bash
# `make demo` as a fresh machine sees it, phase by phase: empty Go module
# and build caches, a fresh seed directory, a fresh clone of this checkout,
# staticcheck and gosec compiled from nothing by scripts/demo.sh (into the
# scratch directory, not /usr/local), and apt's part measured by
# reinstalling bubblewrap after an update (root or sudo). Run it alone on
# the machine: it is all compiling.
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
s=$SECONDS
git clone -q "$repo" "$root/qlp"
echo "phase clone: $((SECONDS - s)) s"
cd "$root/qlp"
export QLP_SANDBOX_GO_CACHE_SEED_DIR=$root/seed
# staticcheck and gosec compiled from nothing by scripts/demo.sh, into the
# scratch directory (the job's checks use the installed ones, same versions).
export QLP_DEPS_GOBIN=$root/bin
scripts/demo.sh >"$root/demo.out" 2>"$root/demo.err" || { tail -20 "$root/demo.err" >&2; exit 1; }
grep '^demo:.* in ' "$root/demo.err" | sed 's/^demo: /phase /'
grep 'validated' "$root/demo.err" | tail -1
echo "total: $((SECONDS - t0)) s"
# The processor time all of it took (user + system, every process the
# steps started): divided by the cores, the least any order of the same
# compiles could take on this machine.
times >"$root/times"
cpu=$(tail -1 "$root/times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.0f", t }')
echo "processor time: $cpu s on $(nproc) cores (at least $((cpu / $(nproc))) s however ordered)"
