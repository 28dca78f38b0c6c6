package store

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Config selects the backend.
type Config struct {
	// Driver is "sqlite" or "postgres"; empty picks postgres when
	// DatabaseURL is set and sqlite otherwise.
	Driver      string
	DatabaseURL string
}

// Settings binds the configuration to QLP_STORE_DRIVER and QLP_DATABASE_URL.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "store.driver", Env: "QLP_STORE_DRIVER", Help: "system of record: sqlite (a file under the data dir) or postgres; empty = postgres when a database URL is set", Value: settings.String(&c.Driver)},
		{Key: "store.database_url", Env: "QLP_DATABASE_URL", Help: "PostgreSQL URL, e.g. postgres://user:pass@host:5432/qlp?sslmode=require", Secret: true, Value: settings.String(&c.DatabaseURL)},
	}
}

// Validate checks the driver and the URL.
func (c *Config) Validate() error {
	switch c.EffectiveDriver() {
	case "sqlite":
		if c.Driver == "sqlite" && c.DatabaseURL != "" {
			return fmt.Errorf("store.database_url (QLP_DATABASE_URL): set, but store.driver is sqlite; unset one of them")
		}
	case "postgres":
		if c.DatabaseURL == "" {
			return fmt.Errorf("store.database_url (QLP_DATABASE_URL): required when store.driver is postgres")
		}
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// Never echo the URL: it may hold a password.
			return fmt.Errorf("store.database_url (QLP_DATABASE_URL): must be a postgres:// URL")
		}
	default:
		return fmt.Errorf("store.driver (QLP_STORE_DRIVER): unknown driver %q (want sqlite or postgres)", c.Driver)
	}
	return nil
}

// EffectiveDriver resolves an empty Driver.
func (c *Config) EffectiveDriver() string {
	d := strings.ToLower(strings.TrimSpace(c.Driver))
	if d == "" {
		if c.DatabaseURL != "" {
			return "postgres"
		}
		return "sqlite"
	}
	return d
}

// SQLitePath is where the embedded database lives under the data dir.
func SQLitePath(dataDir string) string { return filepath.Join(dataDir, "qlp.db") }

// Open opens the configured store and applies pending migrations.
func Open(ctx context.Context, cfg Config, dataDir string) (*SQL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.EffectiveDriver() == "postgres" {
		return OpenPostgres(ctx, cfg.DatabaseURL)
	}
	return OpenSQLite(ctx, SQLitePath(dataDir))
}
