package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/cli"
)

// TestServeList: `qlp serve --list` prints the targets table, and with a
// target what serving it would open here and reach by URL.
func TestServeList(t *testing.T) {
	none := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_MEMORY_URL": "", "QLP_VALIDATION_URL": "", "QLP_SANDBOX_URL": ""}
	split := map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_MEMORY_URL": "http://memory:8003", "QLP_VALIDATION_URL": "http://validation:8002",
		"QLP_SANDBOX_URL": ""}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		contains []string
		excludes []string
	}{
		{name: "table", env: none, args: []string{"serve", "--list"}, contains: []string{
			"TARGET", "NEEDS",
			"orchestrator  -                  127.0.0.1:8000  api.addr (QLP_API_ADDR)",
			"validation    sandbox            127.0.0.1:8002  services.validation.addr (QLP_VALIDATION_ADDR)  services.validation.url (QLP_VALIDATION_URL)",
			"worker        memory,validation  127.0.0.1:8005  services.worker.addr (QLP_WORKER_ADDR)",
			"marketing     -                  127.0.0.1:8006  services.marketing.addr (QLP_MARKETING_ADDR)",
		}, excludes: []string{"qlp serve "}},
		{name: "worker, one process", env: none, args: []string{"serve", "--list", "worker"}, contains: []string{
			"qlp serve worker:", "serves          worker", "also opens      memory, sandbox, validation", "reaches by URL  -",
		}},
		{name: "worker, split", env: split, args: []string{"serve", "worker", "--list"}, contains: []string{
			"also opens      -", "reaches by URL  memory at http://memory:8003, validation at http://validation:8002",
		}},
		{name: "all", env: split, args: []string{"serve", "--list", "all"}, contains: []string{
			"serves          orchestrator, agents, memory, sandbox, validation, worker", "reaches by URL  -",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.env, tc.args...)
			require.Equal(t, 0, code, stderr)
			for _, s := range tc.contains {
				require.Contains(t, stdout, s)
			}
			for _, s := range tc.excludes {
				require.NotContains(t, stdout, s)
			}
		})
	}
}

func TestServeArgumentErrors(t *testing.T) {
	env := map[string]string{"QLP_DATA_DIR": t.TempDir()}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no target", args: []string{"serve"}, want: "want one argument, TARGET[,TARGET...] (orchestrator, agents, memory, sandbox, validation, worker, marketing or all), got 0"},
		{name: "two arguments", args: []string{"serve", "worker", "agents"}, want: "got 2; 'qlp serve --list' prints the targets"},
		{name: "unknown target", args: []string{"serve", "worker,billing"}, want: `unknown target "billing" (want orchestrator, agents, memory, sandbox, validation, worker, marketing or all)`},
		{name: "unknown target in --list", args: []string{"serve", "--list", "nope"}, want: `unknown target "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, env, tc.args...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(stderr, "qlp:"), "one error line")
		})
	}
}

// TestTemporalCommand: `qlp temporal` serves the dev server alone until it
// is stopped, and refuses to run where temporal.address names another.
func TestTemporalCommand(t *testing.T) {
	t.Run("refuses an address", func(t *testing.T) {
		code, _, stderr := run(t, map[string]string{"QLP_DATA_DIR": t.TempDir(), "QLP_TEMPORAL_ADDRESS": "127.0.0.1:7233"}, "temporal")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "temporal.address (QLP_TEMPORAL_ADDRESS) is 127.0.0.1:7233: this command runs a server")
	})
	t.Run("serves", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ctx, cancel := context.WithCancel(t.Context())
		t.Setenv("QLP_DATA_DIR", t.TempDir())
		t.Setenv("QLP_TEMPORAL_PORT", strconv.Itoa(port))
		t.Setenv("QLP_TEMPORAL_ADDRESS", "")
		var out syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- cli.Execute(ctx, "test", []string{"temporal", "--log-level", "error"}, &out, io.Discard)
		}()
		want := fmt.Sprintf("use it with QLP_TEMPORAL_ADDRESS=127.0.0.1:%d", port)
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(out.String(), want) {
			require.True(t, time.Now().Before(deadline), "no %q in %q", want, out.String())
			time.Sleep(100 * time.Millisecond)
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, err, "the dev server listens")
		c.Close()
		cancel()
		require.Equal(t, 0, <-done, "a stop is a clean exit")
	})
}

// syncBuffer is a bytes.Buffer safe to write and read at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
