package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// otelcolBin is the OpenTelemetry Collector scripts/deps/otelcol.sh builds
// from the collector's Go modules.
const otelcolBin = "/usr/local/bin/otelcol-qlp"

// startCollector runs the OpenTelemetry Collector with its OTLP receiver
// (gRPC and HTTP on ports of its own) and an OTLP/HTTP exporter to
// forward, and returns the receiver's gRPC endpoint. Without the
// collector the test is skipped, or fails with QLP_TEST_REQUIRE_SERVICES=1.
func startCollector(t *testing.T, forward string) string {
	t.Helper()
	if _, err := os.Stat(otelcolBin); err != nil {
		if os.Getenv("QLP_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not installed (QLP_TEST_REQUIRE_SERVICES=1): run scripts/install-deps.sh test", otelcolBin)
		}
		t.Skipf("%s is not installed (scripts/deps/otelcol.sh builds it)", otelcolBin)
	}
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "otelcol.yaml")
	yaml := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  otlphttp:
    endpoint: %s
    tls:
      insecure: true
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
`, grpcAddr, httpAddr, forward)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "otelcol.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, otelcolBin, "--config", conf)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("the collector's log:\n%s", b)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.DialTimeout("tcp", grpcAddr, time.Second); err == nil {
			c.Close()
			return grpcAddr
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the collector did not listen on %s within a minute:\n%s", grpcAddr, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr is a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
