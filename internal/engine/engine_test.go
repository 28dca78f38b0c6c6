package engine_test

import (
	"errors"
	"os"
	"path/filepath"
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

// TestClusterIDFailuresAreErrors: the embedded server's cluster id must be
// the one its database was created with. When it cannot be read or written,
// Start fails and says so, rather than starting under an id that the next
// start would not know (which then refuses its own database).
func TestClusterIDFailuresAreErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, temporalDir string)
		want  string
	}{
		{"unreadable id", func(t *testing.T, d string) {
			mkdir(t, filepath.Join(d, "cluster-id")) // reading a directory fails, even as root
		}, "read the embedded Temporal cluster id"},
		{"unwritable id", func(t *testing.T, d string) {
			mkdir(t, filepath.Join(d, "cluster-id.tmp")) // the new id cannot be written
		}, "write the embedded Temporal cluster id"},
		{"database without its id", func(t *testing.T, d string) {
			if err := os.WriteFile(filepath.Join(d, "temporal.db"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "would refuse its own database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mkdir(t, filepath.Join(dir, "temporal"))
			tt.setup(t, filepath.Join(dir, "temporal"))
			cfg := engine.Defaults()
			cfg.Port = 0
			e, err := engine.Start(t.Context(), cfg, dir, logx.Discard())
			if err == nil {
				e.Close()
				t.Fatal("Start succeeded; want an error about the cluster id")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start: %v; want an error saying %q", err, tt.want)
			}
		})
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
}
