#!/usr/bin/env bash
# Runs every native Go fuzzer of the module (each `func FuzzXxx(f *testing.F)`
# in a _test.go file, found here, so a new one cannot be left out) for
# QLP_FUZZ_TIME each (default 4s; any `go test -fuzztime` value, such as 10m
# or 100000x), and fails on the first crash. `go test -fuzz` takes one
# fuzzer of one package per run, hence the loop.
#
#   scripts/fuzz.sh                          # every fuzzer, 4s each
#   QLP_FUZZ_TIME=10m scripts/fuzz.sh FuzzReadArchive   # one fuzzer, longer
#
# A crash leaves the failing input in the package's testdata/fuzz/FuzzXxx/:
# fix the bug and commit that file as the regression seed. Every fuzzer must
# have a committed seed corpus there.
set -euo pipefail
cd "$(dirname "$0")/.."

time=${QLP_FUZZ_TIME:-4s}
only=${1:-}
found=0
start=$SECONDS
# "dir name" pairs, e.g. "internal/capsule FuzzReadArchive".
while read -r dir name; do
	[ -n "$only" ] && [ "$name" != "$only" ] && continue
	found=$((found + 1))
	if [ ! -d "$dir/testdata/fuzz/$name" ] || [ -z "$(ls -A "$dir/testdata/fuzz/$name")" ]; then
		echo "fuzz: $dir has no seed corpus in testdata/fuzz/$name: commit one (go test fuzz v1 files)" >&2
		exit 1
	fi
	echo "== fuzz ./$dir $name ($time)" >&2
	before=$(find "$dir/testdata/fuzz/$name" -type f | wc -l)
	log=$(mktemp)
	if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$time" "./$dir" 2>&1 | tee "$log"; then
		# Go 1.26's fuzzing coordinator can report its own -fuzztime
		# deadline as a failure, with no failing input written
		# (go.dev/issue/75804, fixed in Go 1.27). Only that exact case is
		# run once more; a crash writes its input, and fails here.
		if [ "$(find "$dir/testdata/fuzz/$name" -type f | wc -l)" = "$before" ] && grep -q '^    context deadline exceeded$' "$log"; then
			echo "fuzz: $name stopped with Go's fuzztime race (go.dev/issue/75804), no input written: running it once more" >&2
			go test -run '^$' -fuzz "^$name\$" -fuzztime "$time" "./$dir"
		else
			rm -f "$log"
			exit 1
		fi
	fi
	rm -f "$log"
done < <(git ls-files --cached --others --exclude-standard '*_test.go' | xargs grep -HoE '^func Fuzz[A-Za-z0-9_]+\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' | sort -u)
if [ "$found" -eq 0 ]; then
	echo "fuzz: no fuzzer${only:+ named $only} found" >&2
	exit 1
fi
echo "fuzz: $found fuzzer(s) ran in $((SECONDS - start))s" >&2
