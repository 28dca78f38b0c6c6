// Package engine gives QLP its Temporal client: either by starting the
// embedded Temporal dev server (SQLite under the data directory, optional Web
// UI) or by dialling an external cluster or Temporal Cloud (TLS, API key).
package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/temporalio/cli/temporalcli/devserver"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Config selects the embedded server or an external cluster.
type Config struct {
	Address   string // external frontend host:port; empty means embedded
	Namespace string
	TLSCert   string // client certificate file (mTLS)
	TLSKey    string
	TLSCA     string // server CA file
	APIKey    string // Temporal Cloud API key (implies TLS)
	Port      int    // embedded frontend port; 0 picks a free one
	UI        bool   // embedded Web UI
	UIPort    int
	// LogLevel of the embedded server, which is noisy at info.
	LogLevel string
}

// Defaults returns the embedded-mode defaults.
func Defaults() Config {
	return Config{Namespace: "default", Port: 7233, UIPort: 8233, LogLevel: "warn"}
}

// Settings binds the configuration to QLP_TEMPORAL_* variables.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "temporal.address", Env: "QLP_TEMPORAL_ADDRESS", Help: "external Temporal frontend host:port; empty starts the embedded dev server", Value: settings.String(&c.Address)},
		{Key: "temporal.namespace", Env: "QLP_TEMPORAL_NAMESPACE", Help: "Temporal namespace", Value: settings.String(&c.Namespace)},
		{Key: "temporal.tls_cert", Env: "QLP_TEMPORAL_TLS_CERT", Help: "client certificate file for mTLS", Value: settings.String(&c.TLSCert)},
		{Key: "temporal.tls_key", Env: "QLP_TEMPORAL_TLS_KEY", Help: "client key file for mTLS", Value: settings.String(&c.TLSKey)},
		{Key: "temporal.tls_ca", Env: "QLP_TEMPORAL_TLS_CA", Help: "CA file to verify the server", Value: settings.String(&c.TLSCA)},
		{Key: "temporal.api_key", Env: "QLP_TEMPORAL_API_KEY", Help: "Temporal Cloud API key (turns TLS on)", Secret: true, Value: settings.String(&c.APIKey)},
		{Key: "temporal.port", Env: "QLP_TEMPORAL_PORT", Help: "embedded server frontend port (0 = any free port)", Value: settings.Int(&c.Port)},
		{Key: "temporal.ui", Env: "QLP_TEMPORAL_UI", Help: "serve the embedded Temporal Web UI", Value: settings.Bool(&c.UI)},
		{Key: "temporal.ui_port", Env: "QLP_TEMPORAL_UI_PORT", Help: "embedded Web UI port", Value: settings.Int(&c.UIPort)},
		{Key: "temporal.log_level", Env: "QLP_TEMPORAL_LOG_LEVEL", Help: "log level of the embedded server", Value: settings.String(&c.LogLevel)},
	}
}

// Validate checks the combination of settings.
func (c *Config) Validate() error {
	list := c.Settings()
	bad := func(key, format string, args ...any) error { return settings.Invalid(list, key, format, args...) }
	if c.Namespace == "" {
		return bad("temporal.namespace", "must not be empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("temporal.tls_cert and temporal.tls_key (QLP_TEMPORAL_TLS_CERT/KEY): set both or neither")
	}
	for _, f := range []struct{ key, path string }{{"temporal.tls_cert", c.TLSCert}, {"temporal.tls_key", c.TLSKey}, {"temporal.tls_ca", c.TLSCA}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return bad(f.key, "%w", err)
		}
	}
	if c.Address == "" {
		if c.Port < 0 || c.Port > 65535 {
			return bad("temporal.port", "%d is not a port", c.Port)
		}
		if c.UI && (c.UIPort <= 0 || c.UIPort > 65535) {
			return bad("temporal.ui_port", "%d is not a port", c.UIPort)
		}
	} else if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return bad("temporal.address", "%q is not host:port", c.Address)
	}
	return nil
}

// Engine is a connected Temporal client and, in embedded mode, the server
// behind it.
type Engine struct {
	Client   client.Client
	Address  string
	UIURL    string // "" unless the embedded UI runs
	Embedded bool
	server   *devserver.Server
	lock     *os.File
}

// Start starts the embedded server (when cfg.Address is empty) with its
// SQLite file in dataDir, then dials the client.
func Start(ctx context.Context, cfg Config, dataDir string, logger *slog.Logger) (*Engine, error) {
	e := &Engine{Address: cfg.Address}
	if cfg.Address == "" {
		lock, err := lockDir(filepath.Join(dataDir, "temporal"))
		if err != nil {
			return nil, err
		}
		e.lock = lock
		srv, addr, ui, err := startEmbedded(cfg, dataDir, logger)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.server, e.Address, e.UIURL, e.Embedded = srv, addr, ui, true
	}
	// The tracing interceptor carries the caller's trace context in the
	// headers of workflows and activities, so that a job's workflow and
	// activity spans join the trace of the request that started it. The
	// workers made from this client use it too. It reaches the process's
	// tracer provider through the OpenTelemetry API (telemetry.Install):
	// with tracing off its spans are no-ops that still carry the trace id
	// to the activities' log lines.
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: tracing interceptor: %w", err)
	}
	opts := client.Options{
		HostPort:     e.Address,
		Namespace:    cfg.Namespace,
		Logger:       tlog.NewStructuredLogger(logger.With("component", "temporal-client")),
		Interceptors: []interceptor.ClientInterceptor{tracing},
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		e.Close()
		return nil, err
	}
	opts.ConnectionOptions.TLS = tlsCfg
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: connect to Temporal at %s (namespace %s): %w", e.Address, cfg.Namespace, err)
	}
	e.Client = c
	return e, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSCA == "" && cfg.APIKey == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("engine: load Temporal client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("engine: read Temporal CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("engine: %s holds no PEM certificate", cfg.TLSCA)
		}
		t.RootCAs = pool
	}
	return t, nil
}

func startEmbedded(cfg Config, dataDir string, logger *slog.Logger) (*devserver.Server, string, string, error) {
	dir := filepath.Join(dataDir, "temporal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", "", fmt.Errorf("engine: create %s: %w", dir, err)
	}
	port := cfg.Port
	if port == 0 {
		port = devserver.MustGetFreePort("127.0.0.1")
	} else if err := devserver.CheckPortFree("127.0.0.1", port); err != nil {
		return nil, "", "", fmt.Errorf("engine: embedded Temporal port %d is taken (another `qlp up`?); set QLP_TEMPORAL_PORT=0 for any free port: %w", port, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelWarn
	}
	id, err := clusterID(dir)
	if err != nil {
		return nil, "", "", err
	}
	opts := devserver.StartOptions{
		FrontendIP:             "127.0.0.1",
		FrontendPort:           port,
		Namespaces:             uniq("default", cfg.Namespace),
		ClusterID:              id,
		MasterClusterName:      "active",
		CurrentClusterName:     "active",
		InitialFailoverVersion: 1,
		Logger:                 logger.With("component", "temporal-server"),
		LogLevel:               level,
		DatabaseFile:           filepath.Join(dir, "temporal.db"),
		// WAL keeps the embedded server's writes cheap and crash-safe.
		SqlitePragmas: map[string]string{"journal_mode": "wal", "synchronous": "normal"},
		// Dispatch latency dominates the platform's own overhead on the
		// embedded server (measured by bench/platform): one partition per
		// task queue, and eager activities (the activity starts in the
		// response to the workflow task that scheduled it) take each step
		// from ~100 ms to a few ms.
		DynamicConfigValues: map[string]any{
			"matching.numTaskqueueReadPartitions":  1,
			"matching.numTaskqueueWritePartitions": 1,
			"system.enableActivityEagerExecution":  true,
		},
	}
	ui := ""
	if cfg.UI {
		if err := devserver.CheckPortFree("127.0.0.1", cfg.UIPort); err != nil {
			return nil, "", "", fmt.Errorf("engine: Temporal UI port %d is taken: %w", cfg.UIPort, err)
		}
		opts.UIIP, opts.UIPort = "127.0.0.1", cfg.UIPort
		ui = "http://127.0.0.1:" + strconv.Itoa(cfg.UIPort)
	}
	srv, err := devserver.Start(opts)
	if err != nil {
		return nil, "", "", fmt.Errorf("engine: start embedded Temporal server: %w", err)
	}
	return srv, "127.0.0.1:" + strconv.Itoa(port), ui, nil
}

// lockDir takes an exclusive lock on dir/lock: two embedded servers on one
// SQLite database would corrupt each other's state.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("engine: open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("engine: another qlp process runs the embedded Temporal server of %s (is `qlp up` running? then set QLP_URL to its API, e.g. http://127.0.0.1:8000, or use another --data-dir): %w", filepath.Dir(dir), ErrEngineBusy)
	}
	return f, nil
}

// ErrEngineBusy means another process holds the embedded server's data.
var ErrEngineBusy = errors.New("embedded Temporal server busy")

// clusterID must stay the same across restarts on one database file, or the
// server refuses the existing cluster metadata ("cluster ID mismatch"). A
// new id is written durably (temporary file, fsync, rename, fsync of the
// directory) before the server first starts on it; a failure to read or
// write it is returned, never worked around with an id that the next start
// would not know.
func clusterID(dir string) (string, error) {
	path := filepath.Join(dir, "cluster-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(bytes.TrimSpace(b)) > 0:
		return string(bytes.TrimSpace(b)), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("engine: read the embedded Temporal cluster id %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "temporal.db")); err == nil {
		// The database was created under an id that is lost: a new one
		// would be refused by the server.
		return "", fmt.Errorf("engine: %s is missing or empty but %s exists, so the embedded Temporal server would refuse its own database; restore the file from a backup or move the temporal directory aside to start afresh (running workflows are lost)",
			path, filepath.Join(dir, "temporal.db"))
	}
	id := uuid.NewString()
	if err := writeDurably(path, []byte(id)); err != nil {
		return "", fmt.Errorf("engine: write the embedded Temporal cluster id %s: %w", path, err)
	}
	return id, nil
}

// writeDurably replaces path with data so that a crash leaves either the
// old file or the new one, never a part.
func writeDurably(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func uniq(a, b string) []string {
	if a == b || b == "" {
		return []string{a}
	}
	return []string{a, b}
}

// Close closes the client and stops the embedded server.
func (e *Engine) Close() {
	if e.Client != nil {
		e.Client.Close()
	}
	if e.server != nil {
		e.server.Stop()
	}
	if e.lock != nil {
		e.lock.Close() // releases the flock
	}
}
