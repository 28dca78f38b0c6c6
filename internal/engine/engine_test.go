package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/engine"
	"github.com/quantumlayer/qlp/internal/logx"
)

func TestEmbeddedServerRestartsOnSameDatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := engine.Defaults()
	cfg.Port = 0
	for i := 0; i < 2; i++ {
		start := time.Now()
		e, err := engine.Start(t.Context(), cfg, dir, logx.Discard())
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if _, err := e.Client.CheckHealth(t.Context(), nil); err != nil {
			t.Fatalf("health %d: %v", i, err)
		}
		t.Logf("start %d took %v", i, time.Since(start))
		e.Close()
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*engine.Config)
		want string
	}{
		{"empty namespace", func(c *engine.Config) { c.Namespace = "" }, "QLP_TEMPORAL_NAMESPACE"},
		{"cert without key", func(c *engine.Config) { c.TLSCert = "x" }, "QLP_TEMPORAL_TLS_CERT"},
		{"bad address", func(c *engine.Config) { c.Address = "nohostport" }, "QLP_TEMPORAL_ADDRESS"},
		{"bad port", func(c *engine.Config) { c.Port = 70000 }, "QLP_TEMPORAL_PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := engine.Defaults()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestExternalAddress connects a second engine to the first one's server,
// as a worker does to a Temporal cluster named by QLP_TEMPORAL_ADDRESS.
func TestExternalAddress(t *testing.T) {
	cfg := engine.Defaults()
	cfg.Port = 0
	embedded, err := engine.Start(t.Context(), cfg, t.TempDir(), logx.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer embedded.Close()
	ext := engine.Defaults()
	ext.Address = embedded.Address
	if err := ext.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Start(t.Context(), ext, t.TempDir(), logx.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Embedded {
		t.Fatal("an external address must not start an embedded server")
	}
	if _, err := e.Client.CheckHealth(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestSecondEmbeddedServerOnOneDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := engine.Defaults()
	cfg.Port = 0
	first, err := engine.Start(t.Context(), cfg, dir, logx.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = engine.Start(t.Context(), cfg, dir, logx.Discard())
	if !errors.Is(err, engine.ErrEngineBusy) {
		t.Fatalf("second start = %v, want ErrEngineBusy", err)
	}
}
