package validation

import (
	"time"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Config configures the mesh and its service.
type Config struct {
	// MaxParallel is how many sandbox runs one validation makes at once.
	MaxParallel int `yaml:"max_parallel"`
	// CacheEntries bounds the result cache (check results keyed by the
	// project's content hash and the tool's version); 0 disables it.
	CacheEntries int `yaml:"cache_entries"`
	// CheckTimeout bounds one tool inside the sandbox.
	CheckTimeout time.Duration `yaml:"check_timeout"`
	// TestTimeout bounds the project's test command.
	TestTimeout time.Duration `yaml:"test_timeout"`
	// MemoryBytes is the memory limit of each sandbox run.
	MemoryBytes int64 `yaml:"memory_bytes"`
	// ReviewThreshold: a confidence below it requires human review.
	ReviewThreshold float64 `yaml:"review_threshold"`
	// MaxFiles, MaxFileBytes and MaxTotalBytes bound a request's project.
	MaxFiles      int   `yaml:"max_files"`
	MaxFileBytes  int64 `yaml:"max_file_bytes"`
	MaxTotalBytes int64 `yaml:"max_total_bytes"`
	// MaxBodyBytes bounds an HTTP request body (413 past it). It is larger
	// than MaxTotalBytes so that an oversized file is answered with a 400
	// naming the file.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		MaxParallel:     2,
		CacheEntries:    4096,
		CheckTimeout:    2 * time.Minute,
		TestTimeout:     5 * time.Minute,
		MemoryBytes:     1 << 30,
		ReviewThreshold: DefaultReviewThreshold,
		MaxFiles:        500,
		MaxFileBytes:    1 << 20,
		MaxTotalBytes:   20 << 20,
		MaxBodyBytes:    96 << 20,
	}
}

// Settings binds the configuration to YAML keys under "validation." and
// to QLP_VALIDATION_* environment variables.
func (c *Config) Settings() []settings.Setting {
	s := func(key, env, help string, v settings.Value) settings.Setting {
		return settings.Setting{Key: "validation." + key, Env: "QLP_VALIDATION_" + env, Help: help, Value: v}
	}
	return []settings.Setting{
		s("max_parallel", "MAX_PARALLEL", "sandbox runs one validation makes at once", settings.Int(&c.MaxParallel)),
		s("cache_entries", "CACHE_ENTRIES", "check results kept in the cache (0 disables it)", settings.Int(&c.CacheEntries)),
		s("check_timeout", "CHECK_TIMEOUT", "time limit of one tool in the sandbox", settings.Duration(&c.CheckTimeout)),
		s("test_timeout", "TEST_TIMEOUT", "time limit of the project's tests", settings.Duration(&c.TestTimeout)),
		s("memory_bytes", "MEMORY", "memory limit of each validation sandbox run (e.g. 1GiB)", settings.Int64(&c.MemoryBytes)),
		s("review_threshold", "REVIEW_THRESHOLD", "confidence below which a person must review (0..1)", settings.Float(&c.ReviewThreshold)),
		s("max_files", "MAX_FILES", "most files in one request", settings.Int(&c.MaxFiles)),
		s("max_file_bytes", "MAX_FILE_BYTES", "largest file in a request", settings.Int64(&c.MaxFileBytes)),
		s("max_total_bytes", "MAX_TOTAL_BYTES", "largest total size of a request's files", settings.Int64(&c.MaxTotalBytes)),
		s("max_body_bytes", "MAX_BODY_BYTES", "largest HTTP request body", settings.Int64(&c.MaxBodyBytes)),
	}
}

// Validate reports the first setting that is out of range, by name.
func (c *Config) Validate() error {
	list := c.Settings()
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(list, "validation."+key, format, args...)
	}
	name := func(key string) string { return settings.NameOf(list, "validation."+key) }
	switch {
	case c.MaxParallel < 1 || c.MaxParallel > 64:
		return bad("max_parallel", "%d is outside 1..64", c.MaxParallel)
	case c.CacheEntries < 0:
		return bad("cache_entries", "must not be negative")
	case c.CheckTimeout < time.Second:
		return bad("check_timeout", "%v is shorter than 1s", c.CheckTimeout)
	case c.TestTimeout < time.Second:
		return bad("test_timeout", "%v is shorter than 1s", c.TestTimeout)
	case c.MemoryBytes < 64<<20:
		return bad("memory_bytes", "%d is below 64MiB", c.MemoryBytes)
	case c.ReviewThreshold < 0 || c.ReviewThreshold > 1:
		return bad("review_threshold", "%v is outside 0..1", c.ReviewThreshold)
	case c.MaxFiles < 1:
		return bad("max_files", "must be at least 1")
	case c.MaxFileBytes < 1 || c.MaxTotalBytes < c.MaxFileBytes:
		return bad("max_total_bytes", "must be at least %s", name("max_file_bytes"))
	case c.MaxBodyBytes < c.MaxTotalBytes:
		return bad("max_body_bytes", "must be at least %s", name("max_total_bytes"))
	}
	return nil
}
