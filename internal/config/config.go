// Package config is QLP's one configuration tree: every service's settings
// gathered in one struct, loaded once at start-up from defaults, an optional
// YAML file, QLP_* environment variables and --set flags (later wins), then
// validated with errors that name the bad setting. Nothing reads the
// environment after this.
package config

import (
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/backup"
	"github.com/quantumlayer/qlp/internal/blob"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/console"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/engine"
	"github.com/quantumlayer/qlp/internal/forge"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/marketing"
	"github.com/quantumlayer/qlp/internal/memory"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/redisx"
	"github.com/quantumlayer/qlp/internal/sandbox"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/telemetry"
	"github.com/quantumlayer/qlp/internal/validation"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// API configures the orchestrator's HTTP API.
type API struct {
	Addr         string
	MaxBodyBytes int64
	PublicURL    string // how clients reach the API, for links; empty = derived
}

// Services holds the listen address of each service started in this
// process, and the URL of each service another process runs (split mode).
type Services struct {
	AgentsAddr     string
	WorkerAddr     string
	MarketingAddr  string
	SandboxAddr    string
	SandboxURL     string
	MemoryAddr     string
	MemoryURL      string
	ValidationAddr string
	ValidationURL  string
}

// Client is how the CLI reaches a remote QLP.
type Client struct {
	URL    string
	APIKey string
}

// Capsule configures how capsules are checked.
type Capsule struct {
	// TrustedKeys are the public keys (paths of PEM files, or base64) whose
	// signatures verify trusts besides this installation's own key.
	TrustedKeys []string
}

// Config is the whole configuration.
type Config struct {
	DataDir      string
	LogLevel     string
	LogFormat    string
	ServiceToken string
	API          API
	Store        store.Config
	Redis        redisx.Config
	Temporal     engine.Config
	LLM          tiers.Config
	Workflow     workflow.Config // workflow.* and hitl.*
	Client       Client
	Capsule      Capsule
	Services     Services
	Sandbox      sandbox.Config
	Memory       memory.Config
	Budget       budget.Config
	Costs        costs.Config
	Validation   validation.Config
	Blob         blob.Config
	Backup       backup.Config
	Marketing    marketing.Config
	OIDC         auth.OIDCConfig
	Forge        forge.Config
	Limits       orchestrator.Limits
	Policy       policy.Config
	Telemetry    telemetry.Config
	Console      console.Config
}

// Defaults returns the embedded-mode defaults.
func Defaults() Config {
	return Config{
		DataDir:    defaultDataDir(),
		LogLevel:   "info",
		LogFormat:  logx.FormatAuto,
		API:        API{Addr: "127.0.0.1:8000", MaxBodyBytes: 1 << 20},
		Temporal:   engine.Defaults(),
		LLM:        tiers.Defaults(),
		Workflow:   workflow.Defaults(),
		Limits:     orchestrator.DefaultLimits(),
		Services:   Services{AgentsAddr: "127.0.0.1:8001", WorkerAddr: "127.0.0.1:8005", MarketingAddr: "127.0.0.1:8006", SandboxAddr: "127.0.0.1:8004", MemoryAddr: "127.0.0.1:8003", ValidationAddr: "127.0.0.1:8002"},
		Sandbox:    sandbox.Defaults(),
		Memory:     memoryDefaults(),
		Budget:     budget.Defaults(),
		Costs:      costs.Defaults(),
		Validation: validation.Defaults(),
		Blob:       blob.Defaults(),
		Backup:     backup.Defaults(),
		Marketing:  marketing.Defaults(),
		OIDC:       auth.OIDCDefaults(),
		Forge:      forge.Defaults(),
		Policy:     policy.Defaults(),
		Telemetry:  telemetry.Defaults(),
		Console:    console.Defaults(),
	}
}

// memoryDefaults leaves the embedded store's directory empty: it then lives
// under the data directory (see MemoryDataDir).
func memoryDefaults() memory.Config {
	m := memory.Defaults()
	m.DataDir = ""
	return m
}

// MemoryDataDir is where the embedded vector store lives.
func (c *Config) MemoryDataDir() string {
	if c.Memory.DataDir != "" {
		return c.Memory.DataDir
	}
	return filepath.Join(c.DataDir, "memory")
}

// BlobConfig is the blob store's configuration with the local backend's
// directory resolved: blob.dir, else blobs under the data directory.
func (c *Config) BlobConfig() blob.Config {
	b := c.Blob
	if b.Dir == "" {
		b.Dir = filepath.Join(c.DataDir, "blobs")
	}
	return b
}

// defaultDataDir follows XDG: $XDG_DATA_HOME/qlp, else ~/.local/share/qlp.
func defaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "qlp")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "qlp")
	}
	return ".qlp"
}

// Settings lists every setting, in a stable order.
func (c *Config) Settings() []settings.Setting {
	s := []settings.Setting{
		{Key: "data_dir", Env: "QLP_DATA_DIR", Help: "directory for the SQLite store, the embedded Temporal database, the signing key and other state", Value: settings.String(&c.DataDir)},
		{Key: "log.level", Env: "QLP_LOG_LEVEL", Help: "debug, info, warn or error", Value: settings.String(&c.LogLevel)},
		{Key: "log.format", Env: "QLP_LOG_FORMAT", Help: "auto (text on a terminal, JSON otherwise), json or text", Value: settings.String(&c.LogFormat)},
		{Key: "service_token", Env: "QLP_SERVICE_TOKEN", Help: "shared secret QLP services use to call each other in split mode", Secret: true, Value: settings.String(&c.ServiceToken)},
		{Key: "api.addr", Env: "QLP_API_ADDR", Help: "listen address of the orchestrator API", Value: settings.String(&c.API.Addr)},
		{Key: "api.max_body_bytes", Env: "QLP_API_MAX_BODY_BYTES", Help: "largest accepted request body (bytes, or 512KiB, 1MiB); a larger one is 413 naming max_body_bytes", Value: settings.Int64(&c.API.MaxBodyBytes)},
		{Key: "api.public_url", Env: "QLP_API_PUBLIC_URL", Help: "URL clients use to reach the API, for links in responses", Value: settings.String(&c.API.PublicURL)},
		{Key: "services.agents.addr", Env: "QLP_AGENTS_ADDR", Help: "listen address of the Agent Factory service (POST /execute: one task, one tier)", Value: settings.String(&c.Services.AgentsAddr)},
		{Key: "services.worker.addr", Env: "QLP_WORKER_ADDR", Help: "listen address of the worker's probes and /metrics", Value: settings.String(&c.Services.WorkerAddr)},
		{Key: "services.marketing.addr", Env: "QLP_MARKETING_ADDR", Help: "listen address of the marketing worker's probes and /metrics", Value: settings.String(&c.Services.MarketingAddr)},
		{Key: "services.sandbox.addr", Env: "QLP_SANDBOX_ADDR", Help: "listen address of the Execution Sandbox service", Value: settings.String(&c.Services.SandboxAddr)},
		{Key: "services.sandbox.url", Env: "QLP_SANDBOX_URL", Help: "URL of a sandbox service in another process; empty runs the sandbox in this process", Value: settings.String(&c.Services.SandboxURL)},
		{Key: "services.memory.addr", Env: "QLP_MEMORY_ADDR", Help: "listen address of the Vector Memory service", Value: settings.String(&c.Services.MemoryAddr)},
		{Key: "services.memory.url", Env: "QLP_MEMORY_URL", Help: "URL of a memory service in another process; empty runs memory in this process", Value: settings.String(&c.Services.MemoryURL)},
		{Key: "services.validation.addr", Env: "QLP_VALIDATION_ADDR", Help: "listen address of the Validation Mesh service", Value: settings.String(&c.Services.ValidationAddr)},
		{Key: "services.validation.url", Env: "QLP_VALIDATION_URL", Help: "URL of a validation service in another process; empty validates in this process", Value: settings.String(&c.Services.ValidationURL)},
		{Key: "client.url", Env: "QLP_URL", Help: "CLI: URL of a QLP API to talk to; empty runs the platform in-process", Value: settings.String(&c.Client.URL)},
		{Key: "client.api_key", Env: "QLP_API_KEY", Help: "CLI: API key for QLP_URL", Secret: true, Value: settings.String(&c.Client.APIKey)},
		{Key: "capsule.trusted_keys", Env: "QLP_CAPSULE_TRUSTED_KEYS", Help: "CLI: publishers' public keys whose capsule signatures verify trusts besides this installation's own, comma-separated: paths of PEM files (qlp capsule key) or base64 keys", Value: settings.List(&c.Capsule.TrustedKeys)},
	}
	s = append(s, c.Workflow.Settings()...)
	s = append(s, c.Limits.Settings()...)
	s = append(s, c.Policy.Settings()...)
	s = append(s, c.Store.Settings()...)
	s = append(s, c.Redis.Settings()...)
	s = append(s, c.Temporal.Settings()...)
	s = append(s, c.LLM.Settings()...)
	s = append(s, c.Sandbox.Settings()...)
	s = append(s, c.Memory.Settings()...)
	s = append(s, c.Budget.Settings()...)
	s = append(s, c.Costs.Settings()...)
	s = append(s, c.Validation.Settings()...)
	s = append(s, c.Blob.Settings()...)
	s = append(s, c.Backup.Settings()...)
	s = append(s, c.Marketing.Settings()...)
	s = append(s, c.OIDC.Settings()...)
	s = append(s, c.Forge.Settings()...)
	s = append(s, c.Telemetry.Settings()...)
	s = append(s, c.Console.Settings()...)
	return s
}

// Source says where to load from.
type Source struct {
	File      string // QLP_CONFIG or --config
	Overrides map[string]string
	Environ   func(string) (string, bool)
}

// Load builds the configuration. It does not validate: commands validate
// what they use (a CLI talking to a remote server needs no LLM settings).
func Load(src Source) (Config, error) {
	c := Defaults()
	env := src.Environ
	if env == nil {
		env = os.LookupEnv
	}
	file := src.File
	if file == "" {
		if f, ok := env("QLP_CONFIG"); ok {
			file = f
		}
	}
	if err := settings.Apply(c.Settings(), settings.Source{File: file, Environ: env, Overrides: src.Overrides}); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ValidateCore checks what every server needs: data dir, logging, store,
// blob store, API and workflow settings.
func (c *Config) ValidateCore() error {
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(c.Settings(), key, format, args...)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return bad("data_dir", "must not be empty")
	}
	if _, err := logx.ParseLevel(c.LogLevel); err != nil {
		return bad("log.level", "%w", err)
	}
	switch c.LogFormat {
	case logx.FormatAuto, logx.FormatJSON, logx.FormatText:
	default:
		return bad("log.format", "%q is not auto, json or text", c.LogFormat)
	}
	if err := c.Store.Validate(); err != nil {
		return err
	}
	if err := c.Redis.Validate(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.API.Addr); err != nil {
		return bad("api.addr", "%q is not host:port", c.API.Addr)
	}
	if c.API.MaxBodyBytes < 1024 {
		return bad("api.max_body_bytes", "%d is too small (at least 1024)", c.API.MaxBodyBytes)
	}
	if err := c.Workflow.Validate(); err != nil {
		return err
	}
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if err := c.Budget.Validate(); err != nil {
		return err
	}
	if err := c.Costs.Validate(); err != nil {
		return err
	}
	if err := c.Forge.Validate(); err != nil {
		return err
	}
	if err := c.Console.Validate(); err != nil {
		return err
	}
	if err := c.Blob.Validate(); err != nil {
		return err
	}
	if err := c.Backup.Validate(); err != nil {
		return err
	}
	if err := c.Marketing.Validate(); err != nil {
		return err
	}
	if err := c.OIDC.Validate(); err != nil {
		return err
	}
	if err := c.Telemetry.Validate(); err != nil {
		return err
	}
	return c.Temporal.Validate()
}

// LoadCosts reads the price catalogue (with pricing.file) and the cost plan
// (costs.file) and checks them: an unknown currency, a negative amount or a
// pool on an unknown provider is an error naming the setting and field.
func (c *Config) LoadCosts() (*pricing.Catalogue, *costs.Plan, error) {
	prices, err := pricing.Load(c.LLM.PricingFile)
	if err != nil {
		return nil, nil, err
	}
	plan, err := c.Costs.LoadPlan(prices)
	if err != nil {
		return nil, nil, err
	}
	return prices, plan, nil
}

// Dump lists every setting with its value, secrets redacted, sorted by key.
func (c *Config) Dump() []settings.Setting {
	s := c.Settings()
	sort.Slice(s, func(i, j int) bool { return s[i].Key < s[j].Key })
	return s
}
