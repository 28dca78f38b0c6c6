#!/usr/bin/env bash
# Builds the qlp container image as an OCI image layout, without a Docker
# engine: mmdebstrap makes the Debian root file system with the sandbox's
# toolchains (deploy/image/toolchains), umoci turns it into an image with a
# second layer holding the qlp binary. The Helm chart runs this image
# (`qlp up` or `qlp serve <target>`); the production-topology tests run the
# sandbox service from it (internal/e2e/topology).
#
#   deploy/image/build.sh [-l LANGUAGES] [-t TAG] [-b QLP_BINARY] OUT
#
#   OUT        directory of the OCI image layout (created or added to);
#              the image is OUT:TAG
#   -l         comma-separated languages from deploy/image/toolchains
#              (default: all of them)
#   -t         tag (default: latest)
#   -b         a qlp binary to use (default: build one, static, from this
#              checkout)
#
# Debian packages come from this machine's apt sources (the suite is this
# machine's, e.g. bookworm); set QLP_IMAGE_SUITE and QLP_IMAGE_MIRROR (a
# mirror URL or a sources file) to choose others. Pushing: see
# deploy/README.md ("The image").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
langs=all tag=latest bin=""
while getopts "l:t:b:" opt; do
	case $opt in
	l) langs=$OPTARG ;;
	t) tag=$OPTARG ;;
	b) bin=$OPTARG ;;
	*) sed -n '9,19p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
	sed -n '9,19p' "$0" >&2
	exit 2
fi
out=$1

for tool in mmdebstrap umoci; do
	if ! command -v "$tool" >/dev/null; then
		echo "image: $tool not found: run scripts/install-deps.sh test (or apt-get install mmdebstrap umoci)" >&2
		exit 1
	fi
done

# The packages and copied paths of the chosen languages.
known=$(awk -F: '/^[a-z]+:/ {print $1}' "$here/toolchains" | grep -vx base | xargs)
if [ "$langs" = all ]; then langs=${known// /,}; fi
pkgs=() copies=()
for lang in base ${langs//,/ }; do
	line=$(grep -E "^$lang:" "$here/toolchains" || true)
	if [ -z "$line" ]; then
		echo "image: unknown language \"$lang\" (known: $known)" >&2
		exit 2
	fi
	for item in ${line#*:}; do
		case $item in
		copy:*) copies+=("${item#copy:}") ;;
		*) pkgs+=("$item") ;;
		esac
	done
done
for p in "${copies[@]}"; do
	if [ ! -e "$p" ]; then
		echo "image: $p not found on this machine: run scripts/install-deps.sh test first" >&2
		exit 1
	fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

if [ -z "$bin" ]; then
	echo "image: building qlp" >&2
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/qlp" ./cmd/qlp)
	bin=$work/qlp
fi

# This machine's apt sources: its binary entries only.
suite=${QLP_IMAGE_SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
mirrors=()
if [ -n "${QLP_IMAGE_MIRROR:-}" ]; then
	mirrors=("$QLP_IMAGE_MIRROR")
else
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		if grep -qE '^(deb |Types:.*\bdeb\b)' "$f" && ! grep -qE '^Types: *deb-src *$' "$f"; then
			mirrors+=("$f")
		fi
	done
fi
if [ ${#mirrors[@]} -eq 0 ]; then
	echo "image: no apt source found; set QLP_IMAGE_MIRROR" >&2
	exit 1
fi

hooks=()
for p in "${copies[@]}"; do
	parent=$(dirname "$p")
	hooks+=(--customize-hook="mkdir -p \"\$1$parent\"" --customize-hook="copy-in $p $parent")
done
# A user for the services that do not need root (the sandbox runs as root
# in a privileged pod: it makes namespaces and cgroups for each run).
hooks+=(--customize-hook='echo "qlp:x:10001:10001:qlp:/var/lib/qlp:/usr/sbin/nologin" >> "$1/etc/passwd"'
	--customize-hook='echo "qlp:x:10001:" >> "$1/etc/group"'
	--customize-hook='mkdir -p "$1/var/lib/qlp" && chown 10001:10001 "$1/var/lib/qlp"')

echo "image: root file system ($suite; languages: $langs; packages: ${pkgs[*]})" >&2
pkglist=$(IFS=,; echo "${pkgs[*]}")
mmdebstrap --quiet --variant=essential --include="$pkglist" \
	--dpkgopt=force-unsafe-io --aptopt='Acquire::Check-Valid-Until "false"' \
	--customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists" "$1/usr/share/doc" "$1/usr/share/man"' \
	"${hooks[@]}" "$suite" "$work/rootfs.tar" "${mirrors[@]}"
echo "image: root file system built in $(($(date +%s) - start)) s" >&2

mkdir -p "$work/bin/usr/local/bin"
install -m 0755 "$bin" "$work/bin/usr/local/bin/qlp"
tar -C "$work/bin" --owner=0 --group=0 --numeric-owner -cf "$work/qlp.tar" usr

if [ ! -f "$out/index.json" ]; then
	umoci init --layout "$out"
fi
umoci new --image "$out:$tag"
umoci raw add-layer --image "$out:$tag" "$work/rootfs.tar"
umoci raw add-layer --image "$out:$tag" "$work/qlp.tar"
version=$("$bin" version 2>/dev/null | head -n 1 || echo unknown)
umoci config --image "$out:$tag" \
	--config.entrypoint /usr/local/bin/qlp --config.cmd up \
	--config.workingdir /var/lib/qlp \
	--config.env PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.env QLP_DATA_DIR=/var/lib/qlp \
	--config.volume /var/lib/qlp \
	--config.exposedports 8000/tcp --config.exposedports 8001/tcp --config.exposedports 8002/tcp \
	--config.exposedports 8003/tcp --config.exposedports 8004/tcp --config.exposedports 8005/tcp \
	--config.label "org.opencontainers.image.title=qlp" \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label "io.qlp.languages=$langs" \
	--history.comment "qlp image: deploy/image/build.sh -l $langs"
umoci gc --layout "$out"
echo "image: $out:$tag built in $(($(date +%s) - start)) s" >&2
