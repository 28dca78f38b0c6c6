package console

import (
	"fmt"
	"time"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Config tunes the web console.
type Config struct {
	// SessionKey seals the session cookies (AES-256-GCM, key derived with
	// SHA-256). Every orchestrator replica behind one address needs the
	// same value; empty draws a random key at start, so sessions end with
	// the process and are not shared between replicas.
	SessionKey string
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// TemporalUIURL, when set, is linked from each job page
	// (URL + "/namespaces/" + TemporalNamespace + "/workflows/" + workflow
	// id); the platform sets it to the embedded server's UI when that runs.
	TemporalUIURL string
	// TemporalNamespace is the jobs' namespace (temporal.namespace, set by
	// the platform; empty is "default").
	TemporalNamespace string
}

// Defaults returns the default configuration.
func Defaults() Config { return Config{SessionTTL: 8 * time.Hour} }

// Settings binds QLP_CONSOLE_* variables.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "console.session_key", Env: "QLP_CONSOLE_SESSION_KEY", Secret: true, Help: "secret that seals the web console's session cookies; every API replica needs the same one (empty = random per process: sessions end with it)", Value: settings.String(&c.SessionKey)},
		{Key: "console.session_ttl", Env: "QLP_CONSOLE_SESSION_TTL", Help: "how long a web console sign-in lasts", Value: settings.Duration(&c.SessionTTL)},
		{Key: "console.temporal_ui_url", Env: "QLP_CONSOLE_TEMPORAL_UI_URL", Help: "Temporal Web UI base URL linked from the console's job pages (empty = the embedded server's UI when QLP_TEMPORAL_UI is on, else no link)", Value: settings.String(&c.TemporalUIURL)},
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
		return fmt.Errorf("console.session_ttl (QLP_CONSOLE_SESSION_TTL) %s must be between 1m and 720h", c.SessionTTL)
	}
	if c.SessionKey != "" && len(c.SessionKey) < 32 {
		return fmt.Errorf("console.session_key (QLP_CONSOLE_SESSION_KEY) must be at least 32 characters of random text (e.g. `openssl rand -base64 32`)")
	}
	return nil
}
