#!/usr/bin/env bash
# Installs what QLP needs on a Debian 12 machine, idempotently.
#
#   scripts/install-deps.sh demo   # what `make demo` needs
#   scripts/install-deps.sh test   # what `make test` needs (a superset)
#
# Packages come from Debian (apt). Each concern lists its packages in
# scripts/deps/<concern>.apt (one package per line, # for comments) and may
# ship scripts/deps/<concern>.sh for steps apt cannot do (go install, npm,
# building from a Debian source package). `demo` installs the concerns named
# in scripts/deps/demo.list, `test` all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-test}"
case "$mode" in
demo) concerns=$( (grep -v '^#' scripts/deps/demo.list || true) | xargs) ;;
test)
	shopt -s nullglob
	concerns=$(for f in scripts/deps/*.apt scripts/deps/*.sh; do basename "${f%.*}"; done | sort -u | xargs)
	;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

start=$SECONDS
echo "install-deps: $mode: ${concerns// /, }" >&2

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

want=()
for c in $concerns; do
	f="scripts/deps/$c.apt"
	[ -f "$f" ] || continue
	while read -r pkg; do
		pkg="${pkg%%#*}"; pkg="$(echo "$pkg" | xargs)"
		[ -n "$pkg" ] || continue
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			want+=("$pkg")
		fi
	done <"$f"
done

if [ "${#want[@]}" -gt 0 ]; then
	echo "install-deps: apt-get install ${want[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	sudo_ apt-get update -qq >/dev/null
	sudo_ apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
	# Debian starts some services on install; the tests start their own.
	for svc in redis-server nginx postgresql prometheus; do
		if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
			sudo_ systemctl stop "$svc" || true
		fi
	done
fi

if [ "${#want[@]}" -gt 0 ]; then
	echo "install-deps: apt packages installed in $((SECONDS - start)) s" >&2
fi

for c in $concerns; do
	if [ -x "scripts/deps/$c.sh" ]; then
		"scripts/deps/$c.sh"
	fi
done
echo "install-deps: $mode ready in $((SECONDS - start)) s" >&2
