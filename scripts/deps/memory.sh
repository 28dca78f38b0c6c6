#!/usr/bin/env bash
# Builds and installs the pgvector extension for the newest installed
# PostgreSQL server, idempotently. Debian 12 ships no pgvector for PostgreSQL
# 15, so this adds a deb-src entry for trixie on the SAME mirror as the
# machine's existing Debian sources (read at run time, never written here),
# fetches the source package with `apt-get source pgvector`, and runs
# `make && make install` against pg_config. Only source is taken from trixie:
# no binary package is installed from it.
set -euo pipefail

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pg_config=$(ls /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_config" ]; then
	echo "memory.sh: pg_config not found; install postgresql-server-dev-15 (scripts/deps/memory.apt)" >&2
	exit 1
fi
sharedir=$("$pg_config" --sharedir)
pkglibdir=$("$pg_config" --pkglibdir)
if [ -f "$sharedir/extension/vector.control" ] && [ -f "$pkglibdir/vector.so" ]; then
	exit 0 # already installed
fi

# The mirror: the first Debian archive URI (not the security archive) of the
# machine's own apt sources, deb822 or one-line style.
mirror=""
keyring=""
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)
	if [ -n "$uri" ]; then
		mirror="$uri"
		keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$f")
		break
	fi
done
if [ -z "$mirror" ]; then
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; break}}' "$f" |
			grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)
		if [ -n "$uri" ]; then mirror="$uri"; break; fi
	done
fi
if [ -z "$mirror" ]; then
	echo "memory.sh: no Debian archive found in /etc/apt/sources.list*; cannot fetch pgvector's source" >&2
	exit 1
fi
[ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg

src=/etc/apt/sources.list.d/qlp-trixie-src.sources
want="Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring"
if [ ! -f "$src" ] || [ "$(cat "$src")" != "$want" ]; then
	echo "$want" | sudo_ tee "$src" >/dev/null
fi
sudo_ apt-get update -qq >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "memory.sh: building pgvector from Debian trixie's source package for $("$pg_config" --version)" >&2
apt-get source -qq pgvector >/dev/null 2>&1 || {
	echo "memory.sh: apt-get source pgvector failed (is dpkg-dev installed? does the mirror serve trixie?)" >&2
	apt-get source pgvector >&2 || true
	exit 1
}
dir=$(find . -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
cd "$dir"
# -march=native would tie the binary to this CPU; pgvector's Makefile honours OPTFLAGS.
make -s PG_CONFIG="$pg_config" OPTFLAGS="" >/dev/null
sudo_ make -s PG_CONFIG="$pg_config" OPTFLAGS="" install >/dev/null
echo "memory.sh: pgvector installed into $pkglibdir" >&2
