package validation_test

import (
	"testing"
	"time"

	"github.com/quantumlayer/qlp/internal/validation"
)

// TestConfigValidateNamesTheSetting: each bad value is reported with its key
// and variable (a misspelt key in Validate would panic here).
func TestConfigValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*validation.Config)
		want string
	}{
		{"defaults", func(*validation.Config) {}, ""},
		{"parallel", func(c *validation.Config) { c.MaxParallel = 0 }, "validation.max_parallel (QLP_VALIDATION_MAX_PARALLEL): 0 is outside 1..64"},
		{"cache", func(c *validation.Config) { c.CacheEntries = -1 }, "validation.cache_entries (QLP_VALIDATION_CACHE_ENTRIES): must not be negative"},
		{"check timeout", func(c *validation.Config) { c.CheckTimeout = time.Millisecond }, "validation.check_timeout (QLP_VALIDATION_CHECK_TIMEOUT): 1ms is shorter than 1s"},
		{"test timeout", func(c *validation.Config) { c.TestTimeout = 0 }, "validation.test_timeout (QLP_VALIDATION_TEST_TIMEOUT): 0s is shorter than 1s"},
		{"memory", func(c *validation.Config) { c.MemoryBytes = 1 << 20 }, "validation.memory_bytes (QLP_VALIDATION_MEMORY): 1048576 is below 64MiB"},
		{"review threshold", func(c *validation.Config) { c.ReviewThreshold = 2 }, "validation.review_threshold (QLP_VALIDATION_REVIEW_THRESHOLD): 2 is outside 0..1"},
		{"files", func(c *validation.Config) { c.MaxFiles = 0 }, "validation.max_files (QLP_VALIDATION_MAX_FILES): must be at least 1"},
		{"total below file", func(c *validation.Config) { c.MaxTotalBytes = c.MaxFileBytes - 1 },
			"validation.max_total_bytes (QLP_VALIDATION_MAX_TOTAL_BYTES): must be at least validation.max_file_bytes (QLP_VALIDATION_MAX_FILE_BYTES)"},
		{"body below total", func(c *validation.Config) { c.MaxBodyBytes = c.MaxTotalBytes - 1 },
			"validation.max_body_bytes (QLP_VALIDATION_MAX_BODY_BYTES): must be at least validation.max_total_bytes (QLP_VALIDATION_MAX_TOTAL_BYTES)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validation.Defaults()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
