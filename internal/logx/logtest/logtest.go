// Package logtest keeps the logs tests produce, for the secret scan that
// ends `make test` (scripts/scan-logs.sh): with QLP_TEST_LOG_DIR set,
// Logger writes a test's platform log there at debug level and Keep copies
// a child process's log there when the test ends. Tests configure the
// canary secrets below as their model key, service token and webhook
// secret, so that the scan can prove none of them was ever logged.
package logtest

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/quantumlayer/qlp/internal/logx"
)

// DirEnv names the directory the logs are kept in.
const DirEnv = "QLP_TEST_LOG_DIR"

// Canary secrets: configured by tests, searched for in every log.
const (
	CanaryLLMKey        = "sk-canary-llm-7d41f0c2a9b84e6f"
	CanaryServiceToken  = "canary-service-token-3b9e51d7c0a2"
	CanaryWebhookSecret = "canary-webhook-secret-e84c2f6a1d05"
)

// canaries is the same list for the scanner (scripts/scan-logs.sh reads
// this file).
//
//go:embed canaries.txt
var canaries string

// Canaries lists every canary secret.
func Canaries() []string { return strings.Fields(canaries) }

// Dir is the directory logs are kept in, "" when they are not.
func Dir() string { return os.Getenv(DirEnv) }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func fileFor(t testing.TB, suffix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(Dir(), unsafeName.ReplaceAllString(t.Name(), "_")+"-"+hex.EncodeToString(b[:])+suffix)
}

// Logger is a debug-level JSON logger writing to a file under Dir, or a
// logger that discards when no Dir is set.
func Logger(t testing.TB) *slog.Logger {
	if Dir() == "" {
		return logx.Discard()
	}
	f, err := os.Create(fileFor(t, ".log"))
	if err != nil {
		t.Fatalf("logtest: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return logx.New(f, logx.FormatJSON, slog.LevelDebug)
}

// Level is the log level a child process should run at: debug when its
// log is kept, else fallback.
func Level(fallback string) string {
	if Dir() == "" {
		return fallback
	}
	return "debug"
}

// Save copies the files at paths into Dir now, each under name and its
// own base name; without a Dir it does nothing. For harnesses that are not
// tests themselves (a topology of processes).
func Save(name string, paths ...string) error {
	if Dir() == "" {
		return nil
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := unsafeName.ReplaceAllString(name, "_") + "-" + hex.EncodeToString(b[:]) + "-"
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the process never started
		}
		if err := os.WriteFile(filepath.Join(Dir(), prefix+filepath.Base(p)), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Keep copies the files at paths into Dir when the test ends (a child
// process's log written under the test's temporary directory).
func Keep(t testing.TB, paths ...string) {
	if Dir() == "" {
		return
	}
	t.Cleanup(func() {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				continue // the process never started
			}
			if err := os.WriteFile(fileFor(t, "-"+filepath.Base(p)), b, 0o600); err != nil {
				t.Errorf("logtest: keep %s: %v", p, err)
			}
		}
	})
}
