#!/usr/bin/env bash
set -euo pipefail
# shellcheck source=main.sh
source ./main.sh

[[ "$(total)" == 0 ]] || { echo "empty sum"; exit 1; }
[[ "$(total 1 2 3)" == 6 ]] || { echo "1+2+3"; exit 1; }
[[ "$(total -4 4)" == 0 ]] || { echo "-4+4"; exit 1; }
echo "all sums right"
