#!/usr/bin/env bash
# Validation Mesh tools that apt does not package (or packages too old):
# staticcheck and gosec with `go install`, eslint with npm. They go under
# /usr/local, which the sandbox binds read-only, so that the sandbox user
# (uid 65534) can run them. Idempotent: a tool already at its version is
# left alone.
#
#   scripts/deps/validation.sh        # every language's tools
#   scripts/deps/validation.sh go     # Go's only (what `make demo` checks with)
set -euo pipefail

langs=" ${*:-go javascript} "

STATICCHECK_VERSION=v0.8.2
GOSEC_VERSION=v2.30.0
ESLINT_VERSION=9.39.4
TYPES_NODE_VERSION=20

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# QLP_DEPS_GOBIN: another directory, for bench/demo-fresh.sh, which
# compiles them from nothing without touching /usr/local.
gobin=${QLP_DEPS_GOBIN:-/usr/local/bin}
# Compiled as the invoking user, with the flags qlp itself is built with
# (scripts/demo.sh, Makefile: -trimpath, CGO_ENABLED=0): the standard
# library and the modules both need are compiled once, in one cache, and
# downloaded once. Only the copy into /usr/local needs root.
# installed NAME VERSION: the tool in $gobin is at VERSION.
installed() {
	[ -x "$gobin/$1" ] &&
		[ "$(go version -m "$gobin/$1" 2>/dev/null | awk '$1 == "mod" {print $3; exit}')" = "$2" ]
}
goinstall() { # name module version
	local name=$1 mod=$2 ver=$3
	if installed "$name" "$ver"; then
		return
	fi
	echo "validation deps: go install $mod@$ver" >&2
	local out
	out=$(mktemp -d)
	GOBIN="$out" GOFLAGS=-trimpath CGO_ENABLED=0 go install "$mod@$ver"
	sudo_ install -D -m 0755 "$out/$name" "$gobin/$name"
	rm -rf "$out"
}

if [[ $langs != *" go "* ]]; then
	:
elif command -v go >/dev/null; then
	start=$SECONDS
	# The standard library first, once: go does not share a package
	# another go process is compiling, so the two builds below, started
	# together, would each compile it (50 s of a fresh machine's 2 cores).
	# Same flags as theirs and qlp's, so all three reuse it.
	if ! installed staticcheck "$STATICCHECK_VERSION" || ! installed gosec "$GOSEC_VERSION"; then
		GOFLAGS=-trimpath CGO_ENABLED=0 go build std
		echo "validation deps: standard library compiled in $((SECONDS - start)) s" >&2
	fi
	# Both at once: each is a chain of downloads, compiles and a
	# single-threaded link that the other's compiles fill.
	goinstall staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION" &
	sc=$!
	goinstall gosec github.com/securego/gosec/v2/cmd/gosec "$GOSEC_VERSION" &
	gs=$!
	ok=0
	wait "$sc" || ok=$?
	wait "$gs" || ok=$?
	if [ "$ok" != 0 ]; then
		echo "validation deps: go install of staticcheck or gosec failed (see above)" >&2
		exit "$ok"
	fi
	echo "validation deps: staticcheck and gosec ready in $((SECONDS - start)) s" >&2
else
	echo "validation deps: go not found; staticcheck and gosec not installed" >&2
fi

if [[ $langs != *" javascript "* ]]; then
	:
elif command -v npm >/dev/null; then
	have=$(/usr/local/bin/eslint --version 2>/dev/null || true)
	if [ "$have" != "v$ESLINT_VERSION" ]; then
		echo "validation deps: npm install -g eslint@$ESLINT_VERSION" >&2
		sudo_ npm install -g --prefix /usr/local --no-fund --no-audit --loglevel=error "eslint@$ESLINT_VERSION"
	fi
	# Node's type declarations, so that tsc can check TypeScript that uses
	# Node's modules (Debian's node-typescript ships none).
	if [ ! -f /usr/local/lib/node_modules/@types/node/package.json ]; then
		echo "validation deps: npm install -g @types/node@$TYPES_NODE_VERSION" >&2
		sudo_ npm install -g --prefix /usr/local --no-fund --no-audit --loglevel=error "@types/node@$TYPES_NODE_VERSION"
	fi
else
	echo "validation deps: npm not found; eslint and @types/node not installed" >&2
fi
