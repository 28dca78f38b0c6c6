#!/usr/bin/env bash
# An OpenTelemetry Collector for the tracing tests, built from its Go
# modules with the collector's own builder (ocb): the OTLP receiver and the
# OTLP/HTTP and debug exporters, nothing else. TestOneJobIsOneTrace sends a
# job's trace through it. Installed as /usr/local/bin/otelcol-qlp;
# idempotent (a binary at the version is left alone).
set -euo pipefail

OTELCOL_VERSION=v0.165.0

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

bin=/usr/local/bin/otelcol-qlp
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q " ${OTELCOL_VERSION#v}\$"; then
	exit 0
fi
if ! command -v go >/dev/null; then
	echo "otelcol deps: go not found; the OpenTelemetry Collector is not built" >&2
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
echo "otelcol deps: building the OpenTelemetry Collector $OTELCOL_VERSION (otlp receiver; otlphttp and debug exporters)" >&2
GOBIN="$work/bin" GOFLAGS=-trimpath CGO_ENABLED=0 go install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION"
cat >"$work/manifest.yaml" <<EOM
dist:
  name: otelcol-qlp
  description: OpenTelemetry Collector for QLP's tracing tests
  output_path: $work/dist
  version: ${OTELCOL_VERSION#v}
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $OTELCOL_VERSION
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $OTELCOL_VERSION
EOM
CGO_ENABLED=0 "$work/bin/builder" --config "$work/manifest.yaml" >"$work/builder.log" 2>&1 || { cat "$work/builder.log" >&2; exit 1; }
sudo_ install -m 0755 "$work/dist/otelcol-qlp" "$bin"
echo "otelcol deps: $bin built in $((SECONDS - start)) s" >&2
