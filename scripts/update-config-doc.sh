#!/usr/bin/env bash
# Regenerates the settings table of docs/configuration.md from the code
# (internal/config/config_test.go fails when a setting is missing there).
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/configuration.md
marker='fails when a setting is missing here.'
head=$(awk -v m="$marker" '{print} index($0, m) {exit}' "$doc")
{ printf '%s\n\n' "$head"; go run ./cmd/qlp config dump --markdown; } > "$doc.new"
mv "$doc.new" "$doc"
