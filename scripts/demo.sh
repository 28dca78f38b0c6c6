#!/usr/bin/env bash
# The main job on the embedded defaults: build qlp, turn the example request
# into a capsule with the scripted example cassette (no model, no network),
# write the files to out/demo/ and the archive to out/demo.zip, and verify
# the archive's hashes and signature.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase prints its time: what a first run costs is visible.
phase_start=$SECONDS
phase() { # name
	echo "demo: $1 in $((SECONDS - phase_start)) s" >&2
	phase_start=$SECONDS
}

# What the example's job is checked with (scripts/deps/demo.list):
# bubblewrap, staticcheck and gosec.
scripts/install-deps.sh demo
phase "bubblewrap, staticcheck and gosec ready"

mkdir -p bin out
echo "demo: building qlp" >&2
# The flags scripts/deps/validation.sh compiles staticcheck and gosec with
# (-trimpath, no cgo), so that the standard library they compiled is
# reused here; -s -w: no debug sections to write at link.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/qlp ./cmd/qlp
phase "qlp built"

# A fresh installation each time: the scripted cassette answers the prompts
# of a platform with an empty memory (a second run would recall the first
# and ask different questions, which the cassette rightly refuses).
export QLP_DATA_DIR="$PWD/out/.qlp-demo"
rm -rf "$QLP_DATA_DIR" out/demo out/demo.zip
# The sandbox's Go build-cache seed, once per machine and Go version (a
# phase of its own, so that the job below does not wait for it).
bin/qlp sandbox seed --log-level warn
phase "sandbox's Go build-cache seed ready"
bin/qlp generate "$(cat examples/url-shortener/request.txt)" \
	--llm replay:examples/url-shortener/cassette.jsonl \
	--out out/demo --archive out/demo.zip
phase "job done (plan, code, sandboxed validation, capsule)"

echo
bin/qlp capsule verify out/demo.zip
phase "archive verified"
echo
echo "capsule files:   $PWD/out/demo/"
echo "capsule archive: $PWD/out/demo.zip"
