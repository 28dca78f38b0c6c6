#!/usr/bin/env bash
# Runs every benchmark whose command docs/benchmarks.md gives (`make bench`),
# with PostgreSQL and Redis started for those that need them. Arguments go
# to bench/run: -all adds the variants, -only REGEX picks some, -list shows
# them. Run it alone on the machine: figures taken under other load are not
# figures.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT

go run ./bench/run "$@"
