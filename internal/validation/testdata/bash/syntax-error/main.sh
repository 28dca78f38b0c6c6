#!/usr/bin/env bash
# Prints the sum of its integer arguments.
set -euo pipefail

total() {
  local sum=0 n
  for n in "$@"; do
    sum=$((sum + n))
  echo "$sum"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  total "$@"
fi
