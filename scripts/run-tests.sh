#!/usr/bin/env bash
# Runs the whole test suite against real services: formatting, vet, then
# `go test -race` over every package, with PostgreSQL and Redis started by
# scripts/test-services.sh and stopped again on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-services.sh start)"
export QLP_TEST_REQUIRE_SERVICES=1
# Platform logs of the end-to-end tests are kept here, at debug level, for
# the secret scan at the end (internal/logx/logtest, scripts/scan-logs.sh).
QLP_TEST_LOG_DIR=$(mktemp -d)
export QLP_TEST_LOG_DIR
drill=$(mktemp)
trap 'scripts/test-services.sh stop; rm -rf "$QLP_TEST_LOG_DIR" "$drill"' EXIT

echo "== gofmt" >&2
out=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$out" ]; then echo "gofmt needed:" >&2; echo "$out" >&2; exit 1; fi

echo "== go vet" >&2
go vet ./...

# staticcheck is installed by scripts/deps/validation.sh (the Validation
# Mesh runs it on generated Go code too).
echo "== staticcheck" >&2
staticcheck ./...

# The sandbox's hostile suite asserts that the host's /tmp, cgroups and
# processes are as they were after each run; packages that run sandboxes
# themselves (validation, workflow, e2e) would show up there, so it runs
# alone first.
echo "== go test -race ./internal/sandbox/..." >&2
go test -race -timeout 20m ${QLP_TEST_FLAGS:-} ./internal/sandbox/...

echo "== go test -race (the rest)" >&2
# The disaster-recovery drill (internal/e2e) writes its RPO and RTO here;
# they are printed after the tests (go test shows a passing test's output
# only with -v).
QLP_DRILL_REPORT=$drill go test -race -timeout 20m ${QLP_TEST_FLAGS:-} $(go list ./... | grep -v '/internal/sandbox')
echo "== disaster-recovery drill (under -race, beside the other packages)" >&2
sed 's/^/   /' "$drill" >&2

# Every native fuzzer for a short, fixed time (QLP_FUZZ_TIME, 3s each here):
# its committed seed corpus always runs in the step above; this explores
# beyond it and fails on a crash, leaving the input in testdata/fuzz.
echo "== fuzz" >&2
QLP_FUZZ_TIME=${QLP_FUZZ_TIME:-3s} scripts/fuzz.sh

# No log the tests produced holds a secret: the canaries they configure,
# API keys, age identities, bearer credentials, the database password.
echo "== secret scan of the tests' logs" >&2
scripts/scan-logs.sh "$QLP_TEST_LOG_DIR"
