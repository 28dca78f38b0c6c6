package backup

import (
	"fmt"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Config configures backups.
type Config struct {
	// Key is the age identity (AGE-SECRET-KEY-1…) that encrypts backups
	// and decrypts them; KeyFile names a file holding it instead.
	Key     string
	KeyFile string
	// Interval is how often the Temporal Schedule takes a backup; 0 turns
	// the schedule off (backups are then taken by `qlp backup create`).
	Interval time.Duration
	// Keep is how many backups are kept: after each backup the oldest
	// beyond it are deleted.
	Keep int
}

// Defaults: a backup a day, a week of them kept.
func Defaults() Config { return Config{Interval: 24 * time.Hour, Keep: 7} }

// Settings binds the configuration to "backup.*" keys and QLP_BACKUP_*.
func (c *Config) Settings() []settings.Setting {
	return []settings.Setting{
		{Key: "backup.key", Env: "QLP_BACKUP_KEY", Secret: true, Value: settings.String(&c.Key),
			Help: "age identity (AGE-SECRET-KEY-1…, made by `qlp backup keygen`) that encrypts and decrypts backups; keep a copy away from the platform: without it no backup can be restored"},
		{Key: "backup.key_file", Env: "QLP_BACKUP_KEY_FILE", Value: settings.String(&c.KeyFile),
			Help: "file holding the backup key instead of backup.key (e.g. a mounted Kubernetes secret)"},
		{Key: "backup.interval", Env: "QLP_BACKUP_INTERVAL", Value: settings.Duration(&c.Interval),
			Help: "how often the worker's Temporal Schedule takes a backup when a backup key is set; 0 turns the schedule off"},
		{Key: "backup.keep", Env: "QLP_BACKUP_KEEP", Value: settings.Int(&c.Keep),
			Help: "how many backups are kept in the blob store; older ones are deleted after each backup"},
	}
}

// Validate checks the values.
func (c *Config) Validate() error {
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Minute) {
		return settings.Invalid(c.Settings(), "backup.interval", "must be 0 (off) or at least 1m, not %s", c.Interval)
	}
	if c.Keep < 1 {
		return settings.Invalid(c.Settings(), "backup.keep", "must be at least 1, not %d", c.Keep)
	}
	if c.Key != "" && c.KeyFile != "" {
		return settings.Invalid(c.Settings(), "backup.key_file", "set, and so is backup.key (QLP_BACKUP_KEY); set one of them")
	}
	return nil
}

// HasKey reports whether a backup key is configured.
func (c *Config) HasKey() bool { return c.Key != "" || c.KeyFile != "" }

// identity reads the configured age identity. Its errors never hold the
// key.
func (c *Config) identity() (*age.X25519Identity, error) {
	key, from := c.Key, "backup.key (QLP_BACKUP_KEY)"
	if c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("backup.key_file (QLP_BACKUP_KEY_FILE): %w", err)
		}
		key, from = "", "backup.key_file (QLP_BACKUP_KEY_FILE)"
		// age's key files carry comment lines (# created: …).
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				key = line
				break
			}
		}
	}
	if key == "" {
		return nil, fmt.Errorf("no backup key: set backup.key (QLP_BACKUP_KEY) or backup.key_file (QLP_BACKUP_KEY_FILE) to an age identity; `qlp backup keygen` makes one")
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(key))
	if err != nil {
		return nil, fmt.Errorf("%s: not an age identity (AGE-SECRET-KEY-1…); `qlp backup keygen` makes one", from)
	}
	return id, nil
}

// NewKey makes a new age identity for backup.key.
func NewKey() (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("backup: generate key: %w", err)
	}
	return id.String(), nil
}
